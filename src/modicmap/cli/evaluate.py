"""``modicmap evaluate``.

Evaluate `run` outputs against per-level gradings in SPIDER's format (``--gradings``) or
against voxel ground truth as ``modicmap synth`` writes it (``--truth``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modicmap import jsonio
from modicmap.cli import common

if TYPE_CHECKING:
    import numpy as np

    from modicmap.evaluation.gradings import MatchedLevel

HELP = "Evaluate run outputs against per-level gradings or voxel ground truth."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=HELP,
        description=HELP + " RUNS holds one `run` output folder per patient, named by the "
        "Patient id or study id (as `batch` writes them). With --gradings (SPIDER format) "
        "levels match graded discs through index_from_sacrum = IVD label (1 = L5-S1). With "
        "--truth (a folder written by `modicmap synth`: <study_id>/truth/...) endplates "
        "match by vertebra and endplate (and a second time through body overlap, so that "
        "level-naming errors show apart), levels by name, and voxel Dice of the lesion and "
        "of each type is added. Writes metrics.json, metrics.md and figures: accuracy, "
        "sensitivity, specificity, Cohen's kappa (presence and 4-class), per-type "
        "sensitivity/specificity, confusion matrix, ROC AUC, patient-bootstrap 95% CIs; "
        "fig4_per_type.png, and with --truth fig2_scatter.png.",
    )
    parser.add_argument(
        "--runs", type=Path, required=True, metavar="DIR", help="folder of run outputs"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--gradings", type=Path, metavar="CSV", help="per-level gradings (SPIDER format)"
    )
    source.add_argument(
        "--truth",
        type=Path,
        metavar="DIR",
        help="voxel ground truth: a folder written by `modicmap synth`",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap samples (default 1000)"
    )
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def _ci(ci: dict[str, Any], key: str) -> str:
    lo, hi = ci.get(key, (float("nan"), float("nan")))
    return f"{lo:.3f}-{hi:.3f}"


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
        *(
            [
                "| ROC AUC of the marrow evidence alone (larger endplate probability)"
                " | "
                "{:.3f} ({:.3f}-{:.3f}) |".format(
                    metrics["auc_marrow"], *metrics["auc_marrow_ci95"]
                )
            ]
            if "auc_marrow" in metrics
            else []
        ),
        *(
            [
                f"| ROC AUC of the level network alone ({metrics['level_network_levels']} levels)"
                " | "
                "{:.3f} ({:.3f}-{:.3f}) |".format(
                    metrics["auc_level_network"], *metrics["auc_level_network_ci95"]
                )
            ]
            if "auc_level_network" in metrics
            else []
        ),
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


def _scored_table(title: str, metrics: dict[str, Any], unit: str) -> list[str]:
    ci = metrics["ci95"]
    rows = [
        ("prevalence", metrics["prevalence"], None),
        ("accuracy (identification rate)", metrics["accuracy"], "accuracy"),
        ("sensitivity", metrics["sensitivity"], "sensitivity"),
        ("specificity", metrics["specificity"], "specificity"),
        ("Cohen's kappa, presence", metrics["kappa_presence"], "kappa_presence"),
        ("Cohen's kappa, 4-class", metrics["kappa_types"], "kappa_types"),
        ("ROC AUC of probability", metrics["auc"], "auc"),
    ]
    lines = [
        f"## {title}",
        "",
        f"{metrics['levels']} {unit} of {metrics['patients']} studies.",
        "",
        "| | value | 95% CI |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {v:.3f} | {_ci(ci, k) if k else ''} |" for name, v, k in rows]
    lines += [
        "",
        "| type | truth | sensitivity (95% CI) | specificity (95% CI) |",
        "|---|---|---|---|",
    ]
    for t, row in metrics["per_type"].items():
        lines.append(
            f"| {t} | {row['graded']} "
            f"| {row['sensitivity']:.3f} ({_ci(ci, f'type{t}_sensitivity')}) "
            f"| {row['specificity']:.3f} ({_ci(ci, f'type{t}_specificity')}) |"
        )
    lines += ["", "Confusion (rows truth 0-3, columns predicted 0-3):", ""]
    lines += ["    " + " ".join(f"{v:5d}" for v in row) for row in metrics["confusion_types"]]
    return [*lines, ""]


def _truth_table(report: dict[str, Any]) -> str:
    m = report["matching"]
    dice = report["voxel_dice"]
    lines = [
        "# modicmap evaluate (voxel ground truth)",
        "",
        f"Studies: {m['studies']} (without a run: {len(m['studies_without_run'])}); "
        f"endplates matched {m['matched_endplates']}/{m['truth_endplates']}, "
        f"levels matched {m['matched_levels']}/{m['truth_levels']}; "
        f"endplates reported by the runs but not in the truth: "
        f"{len(m['unmatched_run_endplates'])}.",
        "",
    ]
    lines += _scored_table("Endplates", report["endplates"], "endplates")
    lines += _scored_table("Levels", report["levels"], "levels")
    if report.get("endplates_matched_by_body_overlap"):
        lines += _scored_table(
            "Endplates paired by body overlap (level-naming errors undone)",
            report["endplates_matched_by_body_overlap"],
            "endplates",
        )
        renamed = m["bodies_named_differently"]
        lines += [
            f"Run bodies named differently from the truth body they overlap most: {len(renamed)}"
            + (" (" + "; ".join(renamed[:20]) + (" ..." if len(renamed) > 20 else "") + ")")
            * bool(renamed),
            "",
        ]
    lines += [
        "## Voxel Dice (truth modic_map vs run modic_map)",
        "",
        "| label | pooled (95% CI) | mean per study |",
        "|---|---|---|",
    ]
    for label in dice["pooled"]:
        lines.append(
            f"| {label} | {dice['pooled'][label]:.3f} ({_ci(dice['pooled_ci95'], label)}) | "
            f"{dice['mean_per_study'][label]:.3f} |"
        )
    if m["unmatched_truth_endplates"]:
        lines += [
            "",
            "Truth endplates without a run row: "
            + ", ".join(m["unmatched_truth_endplates"][:40])
            + (" ..." if len(m["unmatched_truth_endplates"]) > 40 else ""),
        ]
    return "\n".join(lines) + "\n"


def _network_logits(runs: Path, rows: Sequence[MatchedLevel]) -> np.ndarray:
    """The level network's logit of every matched level (NaN where its run has none)."""
    import numpy as np

    from modicmap.evaluation.calibration import read_level_evidence

    by_run: dict[str, dict[int, float | None]] = {}
    out = []
    for row in rows:
        if row.patient not in by_run:
            run = runs / row.patient
            evidence = read_level_evidence(run) if (run / "summary.json").is_file() else []
            by_run[row.patient] = {e.index_from_sacrum: e.level_net_logit for e in evidence}
        value = by_run[row.patient].get(row.index_from_sacrum)
        out.append(np.nan if value is None else float(value))
    return np.asarray(out, dtype=float)


def _run_gradings(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import numpy as np
    from sklearn.metrics import roc_auc_score

    from modicmap.errors import InputError
    from modicmap.evaluation.consistency import run_contradictions, upper_level_sensitivity
    from modicmap.evaluation.figures import per_type_figure
    from modicmap.evaluation.gradings import match_runs, read_gradings
    from modicmap.evaluation.metrics import bootstrap_auc_ci, level_metrics
    from modicmap.evaluation.voxel import bootstrap_cis
    from modicmap.io.output_dir import output_dir

    matching = match_runs(args.runs, read_gradings(args.gradings))
    if not matching.levels:
        raise InputError(args.runs, "no level of any run matches a graded disc")
    rows = matching.levels
    arrays = (
        np.array([r.patient for r in rows]),
        np.array([r.graded for r in rows]),
        np.array([r.predicted for r in rows]),
        np.array([r.probability for r in rows]),
    )
    metrics = level_metrics(*arrays, bootstrap=args.bootstrap).to_json()
    ci = bootstrap_cis(*arrays, n=args.bootstrap)
    marrow = np.array([r.marrow_probability for r in rows], dtype=float)
    if len(np.unique(arrays[1] > 0)) == 2 and np.isfinite(marrow).all():
        # the V-Net's evidence alone, beside a level model's probability
        metrics["auc_marrow"] = float(roc_auc_score(arrays[1] > 0, marrow))
        metrics["auc_marrow_ci95"] = list(
            bootstrap_auc_ci(arrays[0], arrays[1] > 0, marrow, n=args.bootstrap)
        )
    logits = _network_logits(args.runs, rows)
    read = np.isfinite(logits)
    if read.sum() >= 2 and len(np.unique(arrays[1][read] > 0)) == 2:
        # the level network's reading alone, on the levels whose runs carry it
        y = arrays[1][read] > 0
        metrics["auc_level_network"] = float(roc_auc_score(y, logits[read]))
        metrics["auc_level_network_ci95"] = list(
            bootstrap_auc_ci(arrays[0][read], y, logits[read], n=args.bootstrap)
        )
        metrics["level_network_levels"] = int(read.sum())
    summary = {k: v for k, v in asdict(matching).items() if k != "levels"}
    metrics["upper_levels"] = upper_level_sensitivity(
        np.array([r.index_from_sacrum for r in rows]), arrays[1], arrays[2]
    )
    summary["consistency"] = run_contradictions(args.runs)
    with output_dir(args.out, force=args.force, inputs=(args.runs, args.gradings)) as work:
        (work / "metrics.json").write_text(
            jsonio.dumps({"matching": summary, "metrics": metrics, "ci95": ci}, indent=2) + "\n"
        )
        (work / "metrics.md").write_text(_table(metrics, summary))
        per_type_figure(
            {f"disc levels vs gradings ({metrics['levels']} levels)": (metrics["per_type"], ci)},
            work / "fig4_per_type.png",
        )
    logger.info(
        "kappa %.3f, AUC %.3f over %d levels",
        metrics["kappa_presence"],
        metrics["auc"],
        metrics["levels"],
    )
    return 0


def _run_truth(args: argparse.Namespace) -> int:
    from modicmap.evaluation.consistency import run_contradictions
    from modicmap.evaluation.figures import per_type_figure, scatter_figure
    from modicmap.evaluation.voxel import evaluate_against_truth, lesion_voxels
    from modicmap.io.output_dir import check_output_dir, output_dir

    check_output_dir(args.out, force=args.force, inputs=(args.runs, args.truth))
    evaluation = evaluate_against_truth(args.runs, args.truth, bootstrap=args.bootstrap)
    report = evaluation.to_json()
    report["consistency"] = run_contradictions(args.runs)
    studies = [v.study for v in evaluation.matching.voxels]
    voxels = lesion_voxels(args.runs, args.truth, studies)
    with output_dir(args.out, force=args.force, inputs=(args.runs, args.truth)) as work:
        (work / "metrics.json").write_text(jsonio.dumps(report, indent=2) + "\n")
        (work / "metrics.md").write_text(_truth_table(report))
        per_type_figure(
            {
                f"endplates ({report['endplates']['levels']})": (
                    report["endplates"]["per_type"],
                    report["endplates"]["ci95"],
                ),
                f"disc levels ({report['levels']['levels']})": (
                    report["levels"]["per_type"],
                    report["levels"]["ci95"],
                ),
            },
            work / "fig4_per_type.png",
        )
        if voxels is not None:
            scatter_figure(voxels, work / "fig2_scatter.png")
    logger.info(
        "endplates: kappa %.3f (4-class %.3f); lesion Dice %.3f over %d studies",
        report["endplates"]["kappa_presence"],
        report["endplates"]["kappa_types"],
        report["voxel_dice"]["pooled"]["lesion"],
        len(studies),
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.gradings is not None:
        return _run_gradings(args)
    return _run_truth(args)
