"""The whole run: one thin composition of the stages."""
