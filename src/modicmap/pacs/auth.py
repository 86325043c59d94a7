"""Credentials for the DICOMweb server: from a file or the environment, never the command line.

``--auth-file FILE`` holds one line: ``USER:PASSWORD`` (HTTP basic) or a bearer token (no
colon). Without it, ``MODICMAP_PACS_TOKEN`` (bearer) or ``MODICMAP_PACS_USER`` and
``MODICMAP_PACS_PASSWORD`` (basic) are read. The secret lives only on the HTTP session: it
is never logged (its ``repr`` hides it) nor written anywhere.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from modicmap.errors import InputError

logger = logging.getLogger(__name__)

TOKEN_ENV = "MODICMAP_PACS_TOKEN"
USER_ENV = "MODICMAP_PACS_USER"
PASSWORD_ENV = "MODICMAP_PACS_PASSWORD"


@dataclass(frozen=True)
class Credentials:
    """HTTP basic (``user`` and ``secret``) or bearer (``secret`` only) credentials."""

    user: str | None
    secret: str = field(repr=False)
    origin: str  # where they came from, for messages (never the secret itself)

    @property
    def kind(self) -> str:
        return "basic" if self.user is not None else "bearer"


def load_credentials(
    auth_file: Path | None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials of ``auth_file``, else of the environment, else None (no auth)."""
    environ = os.environ if environ is None else environ
    if auth_file is not None:
        return _from_file(auth_file)
    if environ.get(TOKEN_ENV):
        return Credentials(None, environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}")
    user, password = environ.get(USER_ENV), environ.get(PASSWORD_ENV)
    if user and password:
        return Credentials(user, password, f"${USER_ENV}/${PASSWORD_ENV}")
    if user or password:
        raise InputError(None, f"set both {USER_ENV} and {PASSWORD_ENV} (only one is set)")
    return None


def _from_file(path: Path) -> Credentials:
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise InputError(path, "does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            path, f"cannot be read as a credentials file ({type(exc).__name__})"
        ) from None
    if len(lines) != 1:
        raise InputError(path, "must hold one line: USER:PASSWORD or a bearer token")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s is readable by other users; chmod 600 it", path)
    user, colon, secret = lines[0].partition(":")
    if colon:
        if not user or not secret:
            raise InputError(path, "USER:PASSWORD with an empty user or password")
        return Credentials(user, secret, str(path))
    return Credentials(None, lines[0], str(path))


def check_url(url: str) -> str:
    """A DICOMweb base URL without credentials in it (``ps`` and logs would show them)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(url, "is not an http(s) DICOMweb URL")
    if parts.username or parts.password:
        raise InputError(
            parts._replace(netloc=parts.hostname).geturl(),
            "holds credentials; put them in --auth-file or the MODICMAP_PACS_* variables",
        )
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        logger.warning(
            "%s is plain http: images and credentials cross the network unencrypted", url
        )
    return url.rstrip("/")


def http_session(
    credentials: Credentials | None, ca_bundle: Path | None = None
) -> requests.Session:
    """A requests session carrying the credentials; TLS certificates are always verified
    (against ``ca_bundle`` when given, else the system's store)."""
    session = requests.Session()
    session.verify = str(ca_bundle) if ca_bundle is not None else True
    if credentials is not None:
        if credentials.user is not None:
            session.auth = (credentials.user, credentials.secret)
        else:
            session.headers["Authorization"] = f"Bearer {credentials.secret}"
    return session
