"""A private Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``) on free local ports, with its
own configuration and storage folder: for the tests, the benchmark and trying ``pacs`` out.

It listens on 127.0.0.1 only (``RemoteAccessAllowed`` false); with ``users`` it asks for
HTTP basic authentication.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests

#: where Debian's orthanc-dicomweb package puts the plugin
PLUGIN_PATHS = (
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so"),
)


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc")


def dicomweb_plugin() -> Path | None:
    return next((p for p in PLUGIN_PATHS if p.is_file()), None)


def missing() -> str | None:
    """Why a local Orthanc cannot start here (None when it can)."""
    if orthanc_binary() is None:
        return "Orthanc is not installed (Debian package orthanc)"
    if dicomweb_plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (Debian package orthanc-dicomweb)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalOrthanc:
    folder: Path
    users: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def admin_session(self) -> requests.Session:
        session = requests.Session()
        if self.users:
            session.auth = next(iter(self.users.items()))
        return session

    def start(self, timeout_s: float = 30.0) -> LocalOrthanc:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.http_port = _free_port()
        config = {
            "Name": "modicmap-local",
            "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": _free_port(),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": dict(self.users or {}),
            "Plugins": [str(dicomweb_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpTimeout": 120,
        }
        path = self.folder / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        log = (self.folder / "orthanc.log").open("wb")
        self.process = subprocess.Popen(
            [str(orthanc_binary()), str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        session = self.admin_session()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start; see {self.folder / 'orthanc.log'}")
            try:
                if session.get(f"{self.url}/system", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def upload(self, files: list[Path]) -> None:
        """Files into Orthanc by its REST API (as a modality would send them)."""
        session = self.admin_session()
        for f in files:
            response = session.post(f"{self.url}/instances", data=f.read_bytes(), timeout=60)
            response.raise_for_status()

    def count(self, study_uid: str, modality: str) -> int:
        """How many instances of ``modality`` the study holds."""
        session = self.admin_session()
        found = session.get(f"{self.dicomweb_url}/studies/{study_uid}/series", timeout=30)
        if found.status_code == 204 or not found.content:
            return 0
        found.raise_for_status()
        return sum(
            int(s.get("00201209", {}).get("Value", [0])[0])
            for s in found.json()
            if s.get("00080060", {}).get("Value", [""])[0] == modality
        )

    def __enter__(self) -> LocalOrthanc:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
