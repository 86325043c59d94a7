"""``modicmap calibrate``: choose the endplate threshold by ROC (Youden's J) on a validation set."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from modicmap.cli import common

if TYPE_CHECKING:
    from modicmap.evaluation.calibration import OutOfFold
    from modicmap.models.bundle import ModelBundle

HELP = "Choose the endplate threshold by ROC (Youden's J) on a validation set."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help=HELP,
        description=HELP + " RUNS holds `run` outputs of the validation patients (folder name = "
        "Patient id), GRADINGS their per-level gradings (SPIDER format; ROC over disc levels), "
        "or TRUTH their voxel ground truth as `modicmap synth` writes it (<study_id>/truth/; "
        "ROC over endplates, the paper's calibration). Writes a new bundle to "
        "--out: the --model bundle with the chosen threshold in its 'grading' section, and "
        "roc.png beside it. With --level-model (and --gradings) the level model is fitted "
        "instead (marrow evidence, disc signal and level -> one probability per level; "
        "modicmap.grading.level_model) and stored in the bundle's 'level_model' section; the "
        "endplate threshold is left as it is. When the bundle has a level network, its logit "
        "(in the runs' summary.json) is a feature too: fit on patients the network was not "
        "trained on (`train levels` does both for its own patients). Calibrate on patients "
        "you will not report results on.",
    )
    parser.add_argument("--runs", type=Path, required=True, metavar="DIR")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--gradings", type=Path, metavar="CSV", help="per-level gradings (SPIDER format)"
    )
    source.add_argument(
        "--truth", type=Path, metavar="DIR", help="voxel ground truth (`modicmap synth` layout)"
    )
    parser.add_argument(
        "--level-model",
        action="store_true",
        help="fit the level model on the runs' level evidence instead of the endplate threshold",
    )
    parser.add_argument(
        "--voxel-types",
        action="store_true",
        help="with --level-model: type a graded level by its voxels (the paper's plurality) "
        "instead of by its lesion signal and the types' shares in the gradings (the default)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="BUNDLE_DIR", help="new model bundle"
    )
    common.add_model(parser)
    common.add_force(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from modicmap.evaluation.calibration import (
        calibrate_on_truth,
        graded_level_scores,
        roc_figure,
        threshold_on_scores,
        threshold_out_of_fold,
    )
    from modicmap.evaluation.gradings import read_gradings
    from modicmap.evaluation.reviews import read_review_endplate_gradings
    from modicmap.grading.grade import grading_rule
    from modicmap.io.output_dir import output_dir
    from modicmap.models.bundle import load_bundle, save_bundle

    base = load_bundle(args.model)
    if args.level_model:
        return _fit_level_model(args, base)
    grading = dict(base.section("grading")) if base.has("grading") else {}
    rule = grading_rule(base)
    held_out = None
    if args.truth is not None:
        choice = calibrate_on_truth(args.runs, args.truth, rule)
    else:
        endplates = read_review_endplate_gradings(args.gradings) if args.gradings.is_dir() else {}
        scores = graded_level_scores(args.runs, read_gradings(args.gradings), rule, endplates)
        choice = threshold_on_scores(scores, rule, args.runs)
        held_out = threshold_out_of_fold(scores, rule)
    calibration = {k: v for k, v in asdict(choice).items() if not k.startswith("roc_")}
    if held_out is not None:
        calibration["out_of_fold"] = asdict(held_out)
    grading.update(
        {
            "threshold": choice.threshold,
            "source": f"modicmap calibrate on {args.runs} ({choice.levels} {choice.unit}): "
            f"Youden J {choice.youden_j:.3f}, TPR {choice.tpr:.3f}, FPR {choice.fpr:.3f}, "
            f"AUC {choice.auc:.3f}",
            "calibration": calibration,
        }
    )
    with output_dir(
        args.out, force=args.force, inputs=(args.runs, args.gradings or args.truth, base.folder)
    ) as work:
        save_bundle(work, {"grading": grading}, base=base)
        roc_figure(choice, work / "roc.png")
    logger.info(
        "threshold %.4f (Youden J %.3f, AUC %.3f)", choice.threshold, choice.youden_j, choice.auc
    )
    _print_result(
        f"threshold {choice.threshold:.4f} over {choice.levels} {choice.unit} "
        f"(in sample: sensitivity {choice.tpr:.2f}, specificity {1 - choice.fpr:.2f})",
        held_out,
    )
    return 0


def _print_result(fitted: str, held_out: OutOfFold | None) -> None:
    """The refit and what it is worth on patients it did not see (stdout: the result)."""
    print(fitted)
    if held_out is None:
        print("out of fold: not available (needs graded items of at least two patients)")
        return
    print(held_out.text())


def _fit_level_model(args: argparse.Namespace, base: ModelBundle) -> int:
    from dataclasses import asdict, replace

    from modicmap.errors import InputError
    from modicmap.evaluation.calibration import (
        fit_level_model_on_runs,
        level_model_out_of_fold,
        roc_figure,
    )
    from modicmap.evaluation.gradings import read_gradings
    from modicmap.io.output_dir import output_dir
    from modicmap.models.bundle import save_bundle

    if args.gradings is None:
        raise InputError(args.truth, "--level-model is fitted on per-level gradings (--gradings)")
    from modicmap.grading.level_network import SECTION

    gradings = read_gradings(args.gradings)
    model, choice = fit_level_model_on_runs(args.runs, gradings, with_network=base.has(SECTION))
    held_out = level_model_out_of_fold(args.runs, gradings, with_network=base.has(SECTION))
    if args.voxel_types:
        model = replace(model, type_prior=None)
    with output_dir(
        args.out, force=args.force, inputs=(args.runs, args.gradings, base.folder)
    ) as work:
        section = model.to_json()
        if held_out is not None:
            section["out_of_fold"] = asdict(held_out)
        save_bundle(work, {"level_model": section}, base=base)
        roc_figure(choice, work / "roc_levels.png", title="Level model")
    logger.info(
        "level model: threshold %.4f (Youden J %.3f, in-sample AUC %.3f over %d levels)",
        model.threshold,
        choice.youden_j,
        choice.auc,
        choice.levels,
    )
    _print_result(
        f"level model: threshold {model.threshold:.4f} over {choice.levels} levels "
        f"(in sample: sensitivity {choice.tpr:.2f}, specificity {1 - choice.fpr:.2f})",
        held_out,
    )
    return 0
