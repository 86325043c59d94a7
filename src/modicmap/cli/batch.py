"""``modicmap batch``.

Run a whole cohort (CSV with study_id,t1,t2) on a process pool or a Dask cluster.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modicmap.cli import common
from modicmap.errors import NotAvailableError

HELP = "Run a whole cohort (CSV with study_id,t1,t2) on a process pool or a Dask cluster."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("batch", help=HELP, description=HELP)

    parser.add_argument(
        "cohort", type=Path, metavar="COHORT.csv", help="CSV with columns study_id,t1,t2"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786"
    )
    common.add_model(parser)
    common.add_device(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotAvailableError("`modicmap batch` is not built yet")
