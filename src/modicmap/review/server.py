"""``modicmap review``: serve report.html of one study or a batch folder to a reader, on
127.0.0.1 only, behind a random token, and write each study's ``review.csv``.

The standard library's HTTP server is enough here: one reader, on their own machine, a few
small requests per study; no framework to install. Every request must carry the token
(``?token=...``), so another local user or a web page in the reader's browser cannot read
the reports or write reviews.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from modicmap.errors import InputError
from modicmap.review.table import parse_review_csv, with_study, write_review_csv

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: the largest review.csv accepted (a study has a few dozen rows)
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class Studies:
    """The studies under review: study id -> its run folder, in the order they are read."""

    root: Path
    folders: dict[str, Path]

    @property
    def ids(self) -> list[str]:
        return list(self.folders)


def find_studies(root: Path) -> Studies:
    """One study (``root/report.html``) or a batch folder (``root/<study>/report.html``)."""
    if not root.is_dir():
        raise InputError(root, "is not a folder")
    if (root / "report.html").is_file():
        return Studies(root, {root.name: root})
    folders = {
        p.name: p for p in sorted(root.iterdir()) if p.is_dir() and (p / "report.html").is_file()
    }
    if not folders:
        raise InputError(root, "holds no report.html (neither a `run` nor a `batch` output folder)")
    return Studies(root, folders)


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> tuple[list[str], Path | None] | None:
        """The path's parts and the study folder it names; None (after a reply) when the
        token is wrong or the study unknown."""
        url = urlsplit(self.path)
        token = parse_qs(url.query).get("token", [""])[0]
        if not secrets.compare_digest(token, self.server.token):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: this URL needs its token\n")
            return None
        parts = [unquote(p) for p in url.path.split("/") if p]
        if len(parts) == 3 and parts[0] == "study":
            folder = self.server.studies.folders.get(parts[1])
            if folder is None:
                self._send(HTTPStatus.NOT_FOUND, b"no such study\n")
                return None
            return parts, folder
        return parts, None

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, folder = routed
        token = quote(self.server.token)
        if not parts:
            self._send(HTTPStatus.OK, self.server.index_html().encode(), "text/html")
        elif parts == ["api", "studies"]:
            body = json.dumps({"studies": self.server.studies.ids}).encode()
            self._send(HTTPStatus.OK, body, "application/json")
        elif folder is not None and parts[2] in ("report.html", "review.csv"):
            path = folder / parts[2]
            if not path.is_file():
                self._send(HTTPStatus.NOT_FOUND, b"not reviewed yet\n")
                return
            kind = "text/html" if parts[2].endswith(".html") else "text/csv"
            self._send(HTTPStatus.OK, path.read_bytes(), kind)
        else:
            self._send(HTTPStatus.NOT_FOUND, f"not found (start at /?token={token})\n".encode())

    def do_POST(self) -> None:
        routed = self._route()
        if routed is None:
            return
        parts, folder = routed
        if folder is None or parts[2] != "review.csv":
            self._send(HTTPStatus.NOT_FOUND, b"only review.csv is written\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"review.csv too large\n")
            return
        text = self.rfile.read(length).decode("utf-8", errors="replace")
        try:
            rows = parse_review_csv(text, f"review.csv for {parts[1]}")
        except InputError as exc:
            self._send(HTTPStatus.BAD_REQUEST, f"{exc}\n".encode())
            return
        path = write_review_csv(with_study(rows, parts[1]), folder / "review.csv")
        logger.info("%s: %d reviewed rows written to %s", parts[1], len(rows), path)
        self._send(HTTPStatus.OK, f"saved {len(rows)} rows\n".encode())


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, studies: Studies, port: int = 0, token: str | None = None) -> None:
        self.studies = studies
        self.token = token or secrets.token_urlsafe(24)
        super().__init__((HOST, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The first study's report, with the token."""
        first = quote(self.studies.ids[0])
        return f"http://{HOST}:{self.port}/study/{first}/report.html?token={self.token}"

    def index_html(self) -> str:
        token = quote(self.token)
        items = "".join(
            f'<li><a href="/study/{quote(s)}/report.html?token={token}">{s}</a>'
            f"{' (reviewed)' if (f / 'review.csv').is_file() else ''}</li>"
            for s, f in self.studies.folders.items()
        )
        return f"<!DOCTYPE html><title>modicmap review</title><h1>Studies</h1><ul>{items}</ul>"


@contextmanager
def serving(root: Path, port: int = 0) -> Iterator[ReviewServer]:
    """A review server running in a background thread (for tests and scripts)."""
    server = ReviewServer(find_studies(root), port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
