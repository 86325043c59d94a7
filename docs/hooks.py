"""MkDocs hook: docs/cli.md is generated from the argparse parsers at build time.

Named in mkdocs.yml under ``hooks:``; the page is never written by hand or committed.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from modicmap.cli.main import build_parser
from modicmap.cli.reference import markdown


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "cli.md", content=markdown(build_parser())))
    return files
