"""``modicmap train``: train the models of a bundle (``vertebrae`` or ``lesions``)."""

from __future__ import annotations

import argparse

from modicmap.cli import common

HELP = "Train a model: `train vertebrae ...` or `train lesions ...`."


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


def _run_vertebrae(args: argparse.Namespace) -> int:
    from modicmap.vertebrae.training import run_from_args

    return run_from_args(args)


def _run_lesions(args: argparse.Namespace) -> int:
    from modicmap.lesions.training import run_from_args

    return run_from_args(args)
