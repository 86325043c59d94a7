"""``modicmap pacs``.

Against a DICOMweb server: find lumbar MR studies, retrieve their sagittal T1/T2 series,
run, store the DICOM SEG and SR back into each study.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from modicmap.cli import common

HELP = "Run the studies of a DICOMweb server (PACS) and store the DICOM SEG and SR back."


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pacs",
        help=HELP,
        description=HELP + " Studies: --study UIDs, or with --new every MR study without this "
        "model version's SR. DIR keeps the work: pacs.log, skipped.csv (studies without a "
        "usable sagittal T1/T2 pair, not retried), stored.csv, failures.csv, results/<study>/ "
        "as `run` writes it. Credentials come from --auth-file (one line: USER:PASSWORD or a "
        "bearer token) or the environment (MODICMAP_PACS_TOKEN, or MODICMAP_PACS_USER and "
        "MODICMAP_PACS_PASSWORD), never from the command line. Exit 0 when every study was "
        "stored, done before or skipped; 1 when any failed; 2 on bad input or refused access.",
    )
    parser.add_argument(
        "--url", required=True, help="DICOMweb base URL, e.g. https://pacs/dicom-web"
    )
    parser.add_argument(
        "--study", action="append", default=None, metavar="UID", help="Study Instance UID (repeat)"
    )
    parser.add_argument(
        "--new", action="store_true", help="every MR study that lacks this model version's SR"
    )
    parser.add_argument("--work", type=Path, required=True, metavar="DIR", help="work folder")
    parser.add_argument(
        "--workers", type=common.positive_int, default=1, help="local worker processes (default 1)"
    )
    parser.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786"
    )
    parser.add_argument(
        "--auth-file", type=Path, default=None, metavar="FILE", help="file holding the credentials"
    )
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        default=None,
        metavar="FILE",
        help="CA certificates to verify the server's TLS certificate (default: the system's)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the retrieved images in DIR/images/"
    )
    common.add_model(parser)
    common.add_device(parser)
    common.add_quiet(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from modicmap.errors import InputError
    from modicmap.models.bundle import load_bundle
    from modicmap.pacs.auth import check_url, load_credentials

    if not args.study and not args.new:
        raise InputError(None, "give --study UID (repeatable) or --new")
    if args.ca_bundle is not None and not args.ca_bundle.is_file():
        raise InputError(args.ca_bundle, "does not exist")
    url = check_url(args.url)
    credentials = load_credentials(args.auth_file)
    bundle = load_bundle(args.model)
    old_umask = os.umask(0o077)  # everything written into DIR is the user's only
    try:
        return _run(args, url, credentials, bundle.bundle_id)
    finally:
        os.umask(old_umask)


def _run(args: argparse.Namespace, url: str, credentials: Any, model_id: str) -> int:
    from modicmap.pacs.auth import http_session
    from modicmap.pacs.client import Pacs
    from modicmap.pacs.service import PacsOptions, prepare_work, run_pass

    work = prepare_work(args.work)
    handler = logging.FileHandler(work / "pacs.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("modicmap")
    saved = {
        name: logging.getLogger(name).level for name in ("modicmap", "highdicom", "dicomweb_client")
    }
    root.addHandler(handler)
    if not args.verbose:  # their INFO lines repeat ours, once per image
        for name in ("highdicom", "dicomweb_client"):
            logging.getLogger(name).setLevel(logging.WARNING)
    if root.getEffectiveLevel() > logging.INFO:  # the log file always says what happened
        root.setLevel(logging.INFO)
        for h in logging.getLogger().handlers:
            h.setLevel(logging.WARNING)
    try:
        pacs = Pacs(url, http_session(credentials, args.ca_bundle))
        pacs.check_access()  # refused credentials: one line, before anything else is said
        logging.getLogger(__name__).info(
            "pass on %s (%s credentials)", url, credentials.kind if credentials else "no"
        )
        options = PacsOptions(
            work=work,
            studies=tuple(args.study or ()),
            new=args.new,
            workers=args.workers,
            scheduler=args.scheduler,
            model=args.model,
            device=args.device,
            keep=args.keep,
        )
        report = run_pass(pacs, options, model_id)
    finally:
        root.removeHandler(handler)
        handler.close()
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    for uid, error in report.failed:
        print(f"modicmap pacs: {uid} failed: {error}", file=sys.stderr)
    if not args.quiet:
        print(
            f"modicmap pacs: {len(report.stored)} stored, {len(report.already_done)} done before, "
            f"{len(report.skipped)} skipped ({work / 'skipped.csv'}), {len(report.failed)} failed",
            file=sys.stderr,
        )
    return 1 if report.failed else 0
