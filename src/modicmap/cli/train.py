"""``modicmap train``: train the models of a bundle (``vertebrae``, ``lesions``, ``levels``)."""

from __future__ import annotations

import argparse

from modicmap.cli import common

HELP = "Train a model: `train vertebrae ...`, `train lesions ...` or `train levels ...`."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from modicmap.vertebrae import training as vertebrae_training

    parser = subparsers.add_parser("train", help=HELP, description=HELP)
    models = parser.add_subparsers(dest="model_kind", metavar="MODEL", required=True)
    vertebrae = models.add_parser(
        "vertebrae",
        help="the vertebral-body segmentation network",
        description=(vertebrae_training.__doc__ or "").split("\n\n")[0]
        + " Data layouts: "
        + " ".join((vertebrae_training.find_cases.__doc__ or "").split()),
    )
    vertebrae_training.add_arguments(vertebrae)
    common.add_quiet(vertebrae)
    vertebrae.set_defaults(handler=_run_vertebrae)
    from modicmap.lesions import training as lesion_training

    lesions = models.add_parser(
        "lesions",
        help="the Modic lesion V-Net",
        description=(lesion_training.__doc__ or "").strip(),
    )
    lesion_training.add_arguments(lesions)
    common.add_quiet(lesions)
    lesions.set_defaults(handler=_run_lesions)
    from modicmap.grading import level_training

    levels = models.add_parser(
        "levels",
        help="the level network and level model, from graded `run` outputs",
        description=(level_training.__doc__ or "").strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    level_training.add_arguments(levels)
    common.add_quiet(levels)
    levels.set_defaults(handler=_run_levels)


def _run_vertebrae(args: argparse.Namespace) -> int:
    from modicmap.vertebrae.training import run_from_args

    return run_from_args(args)


def _run_lesions(args: argparse.Namespace) -> int:
    from modicmap.lesions.training import run_from_args
    from modicmap.pipeline.prepare import prepare_study

    return run_from_args(args, prepare_study)


def _run_levels(args: argparse.Namespace) -> int:
    from modicmap.grading.level_training import run_from_args

    return run_from_args(args)
