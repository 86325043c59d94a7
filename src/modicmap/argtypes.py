"""argparse value types shared by the command line and the training modules (which parse
their own ``train`` arguments), kept outside ``modicmap.cli`` so that no stage imports it."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
