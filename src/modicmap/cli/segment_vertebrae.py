"""``modicmap segment-vertebrae``.

Segment and name the vertebral bodies (VerSe codes) in a sagittal image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Segment and name the vertebral bodies (VerSe codes) in a sagittal image."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("segment-vertebrae", help=HELP, description=HELP)

    parser.add_argument("image", type=Path, metavar="IMAGE")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.nii.gz")
    common.add_model(parser)
    common.add_device(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap segment-vertebrae` is not built yet")
