"""``modicmap evaluate``.

Evaluate `run` outputs per disc level against gradings in SPIDER's format.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from modicmap.cli import common

HELP = "Evaluate run outputs per disc level against gradings (SPIDER format)."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=HELP,
        description=HELP + " RUNS holds one `run` output folder per patient, named by the "
        "Patient id (as `batch` writes them). Levels match graded discs through "
        "index_from_sacrum = IVD label (1 = L5-S1). Writes metrics.json and metrics.md: "
        "accuracy, sensitivity, specificity, Cohen's kappa (presence and 4-class), per-type "
        "sensitivity/specificity, confusion matrix, ROC AUC with a patient-bootstrap 95% CI. "
        "(Evaluation against voxel ground truth is not built yet.)",
    )
    parser.add_argument(
        "--runs", type=Path, required=True, metavar="DIR", help="folder of run outputs"
    )
    parser.add_argument(
        "--gradings", type=Path, required=True, metavar="CSV", help="per-level gradings"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap samples (default 1000)"
    )
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def _table(metrics: dict, matching: dict) -> str:
    lines = [
        "# modicmap evaluate",
        "",
        f"Runs: {matching['runs']}; graded levels of these patients: {matching['graded_levels']}; "
        f"matched: {metrics['levels']}.",
        "",
        "| presence (any Modic) | value |",
        "|---|---|",
        f"| prevalence | {metrics['prevalence']:.3f} |",
        f"| accuracy (identification rate) | {metrics['accuracy']:.3f} |",
        f"| sensitivity | {metrics['sensitivity']:.3f} |",
        f"| specificity | {metrics['specificity']:.3f} |",
        f"| Cohen's kappa | {metrics['kappa_presence']:.3f} |",
        "| ROC AUC (95% CI) | {:.3f} ({:.3f}-{:.3f}) |".format(
            metrics["auc"], *metrics["auc_ci95"]
        ),
        f"| 4-class kappa | {metrics['kappa_types']:.3f} |",
        "",
        "| type | graded | sensitivity | specificity |",
        "|---|---|---|---|",
    ]
    for t, row in metrics["per_type"].items():
        lines.append(
            f"| {t} | {row['graded']} | {row['sensitivity']:.3f} | {row['specificity']:.3f} |"
        )
    lines += ["", "Confusion (rows graded 0-3, columns predicted 0-3):", ""]
    lines += ["    " + " ".join(f"{v:5d}" for v in row) for row in metrics["confusion_types"]]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import numpy as np

    from modicmap.errors import InputError
    from modicmap.evaluation.gradings import match_runs, read_gradings
    from modicmap.evaluation.metrics import level_metrics
    from modicmap.io.output_dir import output_dir

    matching = match_runs(args.runs, read_gradings(args.gradings))
    if not matching.levels:
        raise InputError(args.runs, "no level of any run matches a graded disc")
    rows = matching.levels
    metrics = level_metrics(
        np.array([r.patient for r in rows]),
        np.array([r.graded for r in rows]),
        np.array([r.predicted for r in rows]),
        np.array([r.probability for r in rows]),
        bootstrap=args.bootstrap,
    ).to_json()
    summary = {k: v for k, v in asdict(matching).items() if k != "levels"}
    with output_dir(args.out, force=args.force, inputs=(args.runs, args.gradings)) as work:
        (work / "metrics.json").write_text(
            json.dumps({"matching": summary, "metrics": metrics}, indent=2) + "\n"
        )
        (work / "metrics.md").write_text(_table(metrics, summary))
    logger.info(
        "kappa %.3f, AUC %.3f over %d levels",
        metrics["kappa_presence"],
        metrics["auc"],
        metrics["levels"],
    )
    return 0
