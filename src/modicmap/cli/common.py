"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.argtypes import positive_int

__all__ = ["positive_int"]


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="hide progress and info messages")
    parser.add_argument("--verbose", action="store_true", help="show debug messages")


def add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="DIR",
        help="model bundle folder (default: the bundled default model)",
    )


def add_operating_point(parser: argparse.ArgumentParser) -> None:
    from modicmap.grading.operating_point import parse_operating_point

    parser.add_argument(
        "--operating-point",
        type=parse_operating_point,
        default=None,
        metavar="balanced|sensitive|specific|CUT",
        help="where the level probability is cut into Modic / none: balanced (default: the "
        "largest sensitivity + specificity out of fold), sensitive (sensitivity >= 0.80 out of "
        "fold), specific (specificity >= 0.90 out of fold), or a probability cut in (0, 1)",
    )


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="cpu", help="torch device: cpu (default), cuda, cuda:1, ..."
    )


def add_force(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the contents of an existing non-empty --out folder",
    )
