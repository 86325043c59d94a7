"""``modicmap synth``: Write synthetic lumbar-spine studies with voxel ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Write synthetic lumbar-spine studies with voxel ground truth."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("synth", help=HELP, description=HELP)

    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--n", type=int, default=1, help="number of studies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("nifti", "dicom"), default="nifti")
    parser.add_argument(
        "--slices", type=int, default=None, metavar="K", help="sagittal slices per study"
    )
    parser.add_argument("--matrix", type=int, default=None, metavar="N", help="in-plane pixels")
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap synth` is not built yet")
