"""``modicmap run``: map and grade Modic changes in one study (sagittal T1 + T2)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from modicmap.cli import common

HELP = "Map and grade Modic changes in one study (sagittal T1 + T2)."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help=HELP,
        description=HELP + " Writes modic_map.nii.gz, vertebrae.nii.gz, lesion_probability.nii.gz, "
        "t2_registered.nii.gz, endplates.csv, levels.csv, summary.json, report.html (and "
        "modic_seg.dcm for DICOM input) into --out, all in the T1's own grid.",
    )
    parser.add_argument(
        "--t1", type=Path, required=True, help="T1-weighted series: DICOM folder or image file"
    )
    parser.add_argument(
        "--t2", type=Path, required=True, help="T2-weighted series: DICOM folder or image file"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    common.add_model(parser)
    common.add_operating_point(parser)
    parser.add_argument(
        "--vertebrae",
        type=Path,
        default=None,
        metavar="MASK",
        help="use this vertebral-body mask (any label values)",
    )
    parser.add_argument(
        "--no-register", action="store_true", help="assume T2 is already aligned with T1"
    )
    parser.add_argument(
        "--include-phi", action="store_true", help="show patient name/ID in summary.json"
    )
    parser.add_argument(
        "--allow-non-sagittal", action="store_true", help="accept axial/coronal series"
    )
    common.add_device(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modicmap.pipeline.run import RunOptions, run_study

    options = RunOptions(
        model=args.model,
        vertebrae=args.vertebrae,
        register=not args.no_register,
        force=args.force,
        device=args.device,
        include_phi=args.include_phi,
        allow_non_sagittal=args.allow_non_sagittal,
        operating_point=args.operating_point,
    )
    result = run_study(args.t1, args.t2, args.out, options)
    graded = [f"{lv.level}: {lv.modic}" for lv in result.levels]
    logger.info("levels (Modic type): %s", ", ".join(graded) or "none")
    return 0
