"""``modicmap synth``: write synthetic lumbar-spine studies with voxel ground truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import InputError

HELP = "Write synthetic lumbar-spine studies with voxel ground truth."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth",
        help=HELP,
        description=HELP
        + " Each study: DIR/<study_id>/t1.nii.gz, t2.nii.gz (or t1/, t2/ DICOM series), and "
        "truth/ (vertebrae.nii.gz, modic_map.nii.gz, endplates.csv, levels.csv, transform.tfm "
        "= the true T2 misalignment, T1 points -> T2 points); DIR/cohort.csv is ready for "
        "`modicmap batch`. Same seed, same files.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--n", type=common.positive_int, default=1, help="number of studies (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--format", choices=("nifti", "dicom"), default="nifti")
    parser.add_argument(
        "--slices",
        type=common.positive_int,
        default=15,
        metavar="K",
        help="sagittal slices (default 15)",
    )
    parser.add_argument(
        "--matrix", type=int, default=256, metavar="N", help="in-plane pixels (default 256)"
    )
    parser.add_argument(
        "--lesion-rate",
        type=float,
        default=0.35,
        help="chance that an endplate has a lesion (default 0.35)",
    )
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modicmap.io.output_dir import output_dir
    from modicmap.synth.cohort import write_cohort
    from modicmap.synth.study import SynthOptions

    if args.matrix < 32:
        raise InputError(None, f"--matrix must be at least 32 pixels, got {args.matrix}")
    if not 0.0 <= args.lesion_rate <= 1.0:
        raise InputError(None, f"--lesion-rate must lie in 0..1, got {args.lesion_rate}")
    options = SynthOptions(slices=args.slices, matrix=args.matrix, lesion_rate=args.lesion_rate)
    with output_dir(args.out, force=args.force) as work:
        write_cohort(
            work,
            args.n,
            args.seed,
            args.format,
            options,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    return 0
