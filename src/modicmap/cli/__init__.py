"""Thin command-line layer: each command module parses arguments and hands over to the library."""
