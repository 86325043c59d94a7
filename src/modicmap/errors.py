"""Exceptions that cross module boundaries and map to the CLI's exit codes."""

from __future__ import annotations

from pathlib import Path


class ModicmapError(Exception):
    """Base class of modicmap's own errors."""


class InputError(ModicmapError):
    """Bad input or usage: the CLI prints ``path: problem`` and exits with 2."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if self.path is None else f"{self.path}: {problem}")


class NotAvailableError(ModicmapError):
    """A command or feature that is not built yet (exit 1, never fake output)."""
