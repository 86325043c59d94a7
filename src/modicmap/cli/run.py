"""``modicmap run``: Map and grade Modic changes in one study (sagittal T1 + T2)."""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Map and grade Modic changes in one study (sagittal T1 + T2)."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help=HELP, description=HELP)

    parser.add_argument(
        "--t1", type=Path, required=True, help="T1-weighted series: DICOM folder or image file"
    )
    parser.add_argument(
        "--t2", type=Path, required=True, help="T2-weighted series: DICOM folder or image file"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    common.add_model(parser)
    parser.add_argument(
        "--vertebrae",
        type=Path,
        default=None,
        metavar="MASK",
        help="use this vertebral-body mask (any label values) instead of segmenting",
    )
    parser.add_argument(
        "--no-register", action="store_true", help="assume T2 is already aligned with T1"
    )
    parser.add_argument(
        "--include-phi", action="store_true", help="show patient name/ID in the report"
    )
    common.add_device(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap run` is not built yet")
