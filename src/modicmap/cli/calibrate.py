"""``modicmap calibrate``: Choose the endplate threshold by ROC (Youden's J) on a validation set."""

from __future__ import annotations

import argparse

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Choose the endplate threshold by ROC (Youden's J) on a validation set."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("calibrate", help=HELP, description=HELP)

    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap calibrate` is not built yet")
