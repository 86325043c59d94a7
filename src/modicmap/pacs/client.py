"""The DICOMweb calls ``pacs`` makes (dicomweb-client), with retries and clear errors.

dicomweb-client retries only on a few HTTP status codes; a dropped connection or a
timeout raises at once. :func:`with_retries` retries both, with exponential back-off,
and turns a refused login into one :class:`InputError` line (exit 2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydicom
import requests

from modicmap.errors import InputError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: HTTP statuses worth another try (the server is busy or restarting)
RETRIABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class AuthenticationError(InputError):
    """The server refused the credentials (or their absence): stop the whole pass."""


class ServerError(Exception):
    """A call that still failed after its retries (this study fails, the pass goes on)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_wait_s: float = 1.0
    max_wait_s: float = 30.0


def with_retries(
    what: str,
    call: Callable[[], T],
    url: str,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, retried on network errors and busy-server statuses with back-off."""
    wait = policy.first_wait_s
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except requests.HTTPError as exc:
            status = None if exc.response is None else exc.response.status_code
            if status in (401, 403):
                raise AuthenticationError(
                    url,
                    f"the server refused access (HTTP {status}): check --auth-file or the "
                    "MODICMAP_PACS_* variables",
                ) from None
            if status not in RETRIABLE_STATUS or attempt == policy.attempts:
                raise ServerError(f"{what}: HTTP {status}") from None
            problem = f"HTTP {status}"
        except requests.exceptions.SSLError as exc:
            raise InputError(url, f"TLS certificate check failed ({_short(exc)})") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if attempt == policy.attempts:
                raise ServerError(f"{what}: {_short(exc)}") from None
            problem = type(exc).__name__
        logger.warning(
            "%s failed (%s), attempt %d of %d; retrying in %.0f s",
            what,
            problem,
            attempt,
            policy.attempts,
            wait,
        )
        sleep(wait)
        wait = min(wait * 2, policy.max_wait_s)
    raise AssertionError("unreachable")  # the loop returns or raises


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


def _value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


@dataclass(frozen=True)
class RemoteSeries:
    study_uid: str
    series_uid: str
    modality: str
    description: str
    n_instances: int


class Pacs:
    """One DICOMweb server (QIDO-RS, WADO-RS, STOW-RS)."""

    def __init__(
        self, url: str, session: requests.Session, policy: RetryPolicy = RetryPolicy()
    ) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.url = url
        self.policy = policy
        self._client = DICOMwebClient(url, session=session, timeout=(15, 600))
        self._client.set_http_retry_params(retry=False)  # with_retries does it

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return with_retries(what, call, self.url, self.policy)

    def mr_studies(self, page: int = 200) -> Iterator[str]:
        """Study Instance UIDs of every study holding MR series."""
        offset = 0
        while True:
            found = self._call(
                "QIDO studies",
                lambda at=offset: self._client.search_for_studies(  # type: ignore[misc]
                    search_filters={"ModalitiesInStudy": "MR"}, offset=at, limit=page
                ),
            )
            for item in found:
                yield str(_value(item, "0020000D"))
            if len(found) < page:
                return
            offset += len(found)

    def series(self, study_uid: str) -> list[RemoteSeries]:
        found = self._call(
            f"QIDO series of {study_uid}", lambda: self._client.search_for_series(study_uid)
        )
        return [
            RemoteSeries(
                study_uid=study_uid,
                series_uid=str(_value(item, "0020000E")),
                modality=str(_value(item, "00080060") or ""),
                description=str(_value(item, "0008103E") or ""),
                n_instances=int(_value(item, "00201209") or 0),
            )
            for item in found
        ]

    def first_header(self, series: RemoteSeries) -> pydicom.Dataset:
        """The header (no pixels) of one instance of ``series``."""
        study, uid = series.study_uid, series.series_uid
        found = self._call(
            f"QIDO instances of {uid}",
            lambda: self._client.search_for_instances(study, uid, limit=1),
        )
        if not found:
            raise ServerError(f"series {uid} lists no instances")
        sop = str(_value(found[0], "00080018"))
        metadata = self._call(
            f"WADO metadata of {sop}",
            lambda: self._client.retrieve_instance_metadata(study, uid, sop),
        )
        return pydicom.Dataset.from_json(metadata, bulk_data_uri_handler=lambda *_: b"")

    def retrieve(self, series: RemoteSeries, folder: Path) -> int:
        """Every instance of ``series`` written into ``folder``; returns how many."""
        datasets = self._call(
            f"WADO series {series.series_uid}",
            lambda: self._client.retrieve_series(series.study_uid, series.series_uid),
        )
        folder.mkdir(parents=True, exist_ok=True)
        for k, ds in enumerate(datasets):
            ds.save_as(str(folder / f"IM{k + 1:05d}.dcm"), enforce_file_format=True)
        return len(datasets)

    def store(self, study_uid: str, paths: Sequence[Path]) -> None:
        """STOW-RS the files into ``study_uid`` in one request (in this order)."""
        datasets = [pydicom.dcmread(str(p)) for p in paths]
        response = self._call(
            f"STOW into {study_uid}",
            lambda: self._client.store_instances(datasets, study_instance_uid=study_uid),
        )
        failed = getattr(response, "FailedSOPSequence", None) if response is not None else None
        if failed:
            raise ServerError(
                f"STOW into {study_uid}: the server refused {len(failed)} instance(s)"
            )

    def check_access(self) -> None:
        """One cheap query: stops the pass at once on refused credentials or a dead server."""
        try:
            self._call(
                "QIDO access check",
                lambda: self._client.search_for_studies(
                    search_filters={"ModalitiesInStudy": "MR"}, limit=1
                ),
            )
        except ServerError as exc:
            raise InputError(self.url, f"the DICOMweb server does not answer ({exc})") from None
