"""``modicmap batch``.

Run a whole cohort (CSV with study_id,t1,t2) on a process pool or a Dask cluster.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from modicmap.cli import common

HELP = "Run a whole cohort (CSV with study_id,t1,t2) on a process pool or a Dask cluster."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help=HELP,
        description=HELP + " Each study goes to DIR/<study_id>/ as `run` writes it; "
        "DIR/cohort_levels.csv, DIR/cohort_endplates.csv, DIR/cohort_warnings.csv and "
        "DIR/failures.csv gather the cohort. "
        "Re-running skips complete studies and redoes half-written ones. Exit 0 when every study "
        "succeeded, 1 when any failed.",
    )
    parser.add_argument(
        "cohort", type=Path, metavar="COHORT.csv", help="CSV with columns study_id,t1,t2"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786"
    )
    common.add_model(parser)
    common.add_operating_point(parser)
    common.add_device(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from modicmap.batch.cohort import read_cohort, run_cohort
    from modicmap.errors import InputError

    if args.workers < 1:
        raise InputError(None, f"--workers must be at least 1, got {args.workers}")
    total = len(read_cohort(args.cohort))
    bar = tqdm(total=total, unit="study", disable=args.quiet or not sys.stderr.isatty())
    seen = [0]

    def progress(done: int, _todo: int) -> None:
        bar.update(done - seen[0])
        seen[0] = done

    outcomes = run_cohort(
        args.cohort,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        model=args.model,
        device=args.device,
        progress=progress,
        operating_point=args.operating_point,
    )
    bar.close()
    failed = [o for o in outcomes if not o.ok]
    for outcome in failed:
        print(f"modicmap batch: {outcome.study_id} failed: {outcome.error}", file=sys.stderr)
    warned = _studies_with_warnings(args.out / "cohort_warnings.csv")
    if warned and not args.quiet:
        print(
            f"modicmap batch: {warned} of {total} studies have warnings to look at "
            f"({args.out / 'cohort_warnings.csv'})",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _studies_with_warnings(path: Path) -> int:
    with path.open(newline="") as handle:
        return len({row["study_id"] for row in csv.DictReader(handle)})
