"""``modicmap evaluate``.

Evaluate predictions against gradings (SPIDER format) or voxel ground truth.
"""

from __future__ import annotations

import argparse

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Evaluate predictions against gradings (SPIDER format) or voxel ground truth."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help=HELP, description=HELP)

    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap evaluate` is not built yet")
