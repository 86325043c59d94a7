"""``modicmap train``: Train a model: `train vertebrae ...` or `train lesions ...`."""

from __future__ import annotations

import argparse

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Train a model: `train vertebrae ...` or `train lesions ...`."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help=HELP, description=HELP)

    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap train` is not built yet")
