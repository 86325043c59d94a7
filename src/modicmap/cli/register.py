"""``modicmap register``.

Rigidly register MOVING (e.g. T2) to FIXED (e.g. T1) with mutual information.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Rigidly register MOVING (e.g. T2) to FIXED (e.g. T1) with mutual information."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("register", help=HELP, description=HELP)

    parser.add_argument("fixed", type=Path, metavar="FIXED")
    parser.add_argument("moving", type=Path, metavar="MOVING")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap register` is not built yet")
