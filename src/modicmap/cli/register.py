"""``modicmap register``.

Rigidly register MOVING (e.g. T2) to FIXED (e.g. T1) with mutual information.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from modicmap.cli import common

HELP = "Rigidly register MOVING (e.g. T2) to FIXED (e.g. T1) with mutual information."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "register",
        help=HELP,
        description=HELP
        + " Writes transform.tfm (FIXED points -> MOVING points), moving_registered.nii.gz "
        "(MOVING on FIXED's grid) and registration.json. Single-slice pairs get a 2-D "
        "similarity transform (rotation, translation, isotropic scale).",
    )
    parser.add_argument("fixed", type=Path, metavar="FIXED", help="DICOM folder or image file")
    parser.add_argument("moving", type=Path, metavar="MOVING", help="DICOM folder or image file")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--allow-non-sagittal", action="store_true", help="accept axial/coronal series"
    )
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modicmap.io.image import SeriesRole
    from modicmap.io.output_dir import check_output_dir, output_dir
    from modicmap.io.reader import read_image, to_native
    from modicmap.io.writer import write_image
    from modicmap.registration.io import write_registration_json, write_transform
    from modicmap.registration.rigid import register_rigid, resample_to_fixed

    check_output_dir(args.out, force=args.force, inputs=(args.fixed, args.moving))
    allow = args.allow_non_sagittal
    fixed = read_image(args.fixed, SeriesRole.ANY, allow_non_sagittal=allow)
    moving = read_image(args.moving, SeriesRole.ANY, allow_non_sagittal=allow)
    result = register_rigid(fixed.image, moving.image)
    registered = to_native(resample_to_fixed(moving.image, fixed.image, result.transform), fixed)
    with output_dir(args.out, force=args.force, inputs=(args.fixed, args.moving)) as work:
        write_transform(result, work / "transform.tfm")
        write_image(registered, work / "moving_registered.nii.gz")
        write_registration_json(
            result, work / "registration.json", fixed=str(fixed.source), moving=str(moving.source)
        )
    logger.info(
        "registered %s to %s in %.1f s (metric %.3f -> %.3f)",
        moving.source,
        fixed.source,
        result.seconds,
        result.metric_initial,
        result.metric_final,
    )
    return 0
