"""``modicmap demo``: Run the pipeline on the bundled sample studies (one real, one synthetic)."""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Run the pipeline on the bundled sample studies (one real, one synthetic)."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help=HELP, description=HELP)

    parser.add_argument("--out", type=Path, required=True, help="output folder")
    common.add_device(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap demo` is not built yet")
