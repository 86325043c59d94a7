"""``modicmap review DIR [--port P]``: let a reader confirm or correct the grades."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from modicmap.cli import common

HELP = "Serve the report(s) under DIR to a reader, who confirms or corrects each grade."
logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "review",
        help=HELP,
        description=HELP + " DIR is one `run` output folder or a `batch` output folder. The "
        "reports are served on 127.0.0.1 only, behind a random token in the URL printed at "
        "start; Save writes DIR/<study>/review.csv (columns study_id, level, "
        "index_from_sacrum, endplate, modic_machine, modic_reader, reader, time, note), and the "
        "keys n / p save and move to the next / previous study. Stop with Ctrl-C. `calibrate` "
        "and `evaluate` accept DIR as --gradings.",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="run or batch output folder")
    parser.add_argument(
        "--port", type=int, default=0, metavar="P", help="port (default: any free port)"
    )
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modicmap.errors import InputError
    from modicmap.review.server import ReviewServer, find_studies

    studies = find_studies(args.dir)
    if not 0 <= args.port <= 65535:
        raise InputError(args.dir, f"--port {args.port} is not a port number (0-65535)")
    try:
        server = ReviewServer(studies, args.port)
    except OSError as exc:
        raise InputError(
            args.dir, f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror})"
        ) from None
    with server:
        # the URL is the command's output (it carries the token), so it is printed, not logged
        print(
            f"Reviewing {len(studies.ids)} stud{'y' if len(studies.ids) == 1 else 'ies'}: "
            f"open {server.url}",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            logger.info("review server stopped")
    return 0
