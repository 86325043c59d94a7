"""All-or-nothing output folders: a command's files appear together, or not at all."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modicmap.errors import InputError

logger = logging.getLogger(__name__)


def check_output_dir(out: Path, *, force: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse a non-empty ``out`` without ``force``, and any ``out`` that holds an input."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    resolved = out.resolve()
    for item in inputs:
        item = Path(item).resolve()
        if item == resolved or resolved in item.parents:
            raise InputError(out, f"would contain the input {item}; choose another output folder")
        if item.is_dir() and item in resolved.parents:
            raise InputError(out, f"lies inside the input folder {item}; choose another folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(out, "exists and is not empty; use --force to replace its contents")


@contextmanager
def output_dir(out: Path, *, force: bool = False, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a temporary sibling of ``out`` to write into; move it into place on success.

    On any exception the temporary folder is removed and ``out`` is left as it was.
    With ``force`` an existing ``out`` is replaced only after everything succeeded.
    """
    out = Path(out)
    inputs = list(inputs)
    check_output_dir(out, force=force, inputs=inputs)
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise InputError(out, f"cannot create the output folder ({exc.strerror})") from None
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
        old.rmdir()
        out.rename(old)
        work.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        work.rename(out)
    logger.debug("wrote %s", out)


#: The task's name for the context manager (``with OutputDir(out, force=...) as work:``).
OutputDir = output_dir
