"""``modicmap demo``: the README's main job, on the bundled sample studies."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from modicmap.cli import common

HELP = (
    "Run the whole pipeline on the bundled samples (one real SPIDER pair, one synthetic 3-D study)."
)
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help=HELP,
        description=HELP
        + " Writes DIR/spider-2/ (a real mid-sagittal T1/T2 pair from SPIDER, CC BY 4.0, cited "
        "in the package's samples/README.md) and DIR/synthetic-3d/ (a 15 x 256 x 256 synthetic "
        "study, its ground truth in DIR/synthetic-3d-truth/), each exactly as `modicmap run` "
        "writes it; open the report.html files.",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    common.add_model(parser)
    common.add_device(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    from modicmap.io.output_dir import output_dir
    from modicmap.pipeline.run import RunOptions, run_study
    from modicmap.samples import bundled_samples
    from modicmap.synth.cohort import write_study
    from modicmap.synth.study import SynthOptions, synthesize_study

    options = RunOptions(model=args.model, device=args.device)
    with output_dir(args.out, force=args.force) as work, tempfile.TemporaryDirectory() as tmp:
        for sample in bundled_samples():
            run_study(sample.t1, sample.t2, work / sample.name, options)
        study = synthesize_study(2026, SynthOptions(slices=15, matrix=256), study_id="synthetic-3d")
        t1, t2 = write_study(study, Path(tmp) / "synthetic-3d")
        run_study(t1, t2, work / "synthetic-3d", options)
        shutil.copytree(Path(tmp) / "synthetic-3d", work / "synthetic-3d-truth")
    if not args.quiet:
        for name in [s.name for s in bundled_samples()] + ["synthetic-3d"]:
            print(f"{args.out / name / 'report.html'}", file=sys.stdout)
    return 0
