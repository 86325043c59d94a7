"""Shared fixtures: where the real development data lie, tiny synthetic images."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shared-data",
        default=str(REPO_ROOT.parent / "shared" / "data"),
        help="folder with the real development MRI (default: ../shared/data beside the repo)",
    )


@pytest.fixture(scope="session")
def shared_data(request: pytest.FixtureRequest) -> Path:
    """The real development data folder; tests using it skip with a reason where it is absent."""
    path = Path(request.config.getoption("--shared-data"))
    if not (path / "spider-midsag").is_dir() or not (path / "lumbar-vb").is_dir():
        pytest.skip(f"real development data not found at {path} (../shared/data beside the repo)")
    return path
