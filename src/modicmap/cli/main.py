"""``modicmap`` entry point: ``main(argv) -> exit code``, testable without a subprocess.

Exit codes (CONTRACT): 0 success; 2 bad input or usage (one line on stderr naming
the file and the problem, no traceback); 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence

from modicmap import __version__
from modicmap.cli import (
    batch,
    calibrate,
    demo,
    evaluate,
    pacs,
    register,
    review,
    run,
    segment_vertebrae,
    synth,
    train,
)
from modicmap.errors import InputError, NotAvailableError

#: Every command module exposes ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = (
    run,
    batch,
    pacs,
    register,
    segment_vertebrae,
    synth,
    train,
    evaluate,
    calibrate,
    review,
    demo,
)


def build_parser(invoked: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; given the ``invoked`` command, `train` gets its full parser only when it
    is the one invoked (its parser reads the training modules, which import torch: ~2 s of
    start-up every other command would pay for nothing)."""
    parser = argparse.ArgumentParser(
        prog="modicmap",
        description="Map, type and grade Modic changes on sagittal lumbar-spine MRI.",
    )
    parser.add_argument("--version", action="version", version=f"modicmap {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        if module is train and invoked is not None and invoked != "train":
            subparsers.add_parser("train", help=train.HELP, description=train.HELP)
        else:
            module.add_parser(subparsers)
    return parser


def _configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    import SimpleITK as sitk

    # ITK prints its own warnings (e.g. "No Series were found") straight to stderr.
    sitk.ProcessObject.SetGlobalWarningDisplay(verbose)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((a for a in arguments if not a.startswith("-")), ""))
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    # recorded by `train` in the bundle JSON, so a model can be re-made
    args.command_line = "modicmap " + shlex.join(arguments)
    _configure_logging(getattr(args, "quiet", False), getattr(args, "verbose", False))
    try:
        return int(args.handler(args))
    except InputError as exc:
        print(f"modicmap {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except NotAvailableError as exc:
        print(f"modicmap {args.command}: not available yet: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"modicmap {args.command}: interrupted", file=sys.stderr)
        return 130


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
