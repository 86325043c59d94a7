"""Evaluation against radiologists' gradings (pure functions) and its reports."""
