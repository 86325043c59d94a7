"""The documentation: the generated CLI reference covers every option, the site builds.

The CLI reference (docs/cli.md) is generated from the argparse parsers at build time, so
these tests check the generator against the parsers and that ``mkdocs build --strict``
passes (broken links, missing images and pages left out of the nav all fail it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modicmap.cli.main import build_parser
from modicmap.cli.reference import commands, markdown, option_strings
from modicmap.grading.tables import ENDPLATE_COLUMNS, LEVEL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def _sections(text: str) -> dict[str, str]:
    """The reference's sections by command title (``modicmap train lesions``)."""
    parts = re.split(r"^## `([^`]+)`$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_option_of_every_parser_is_in_its_commands_section() -> None:
    parser = build_parser()
    sections = _sections(markdown(parser))
    pairs = list(option_strings(parser))
    assert len(pairs) > 100  # the tree was walked, nested sub-commands included
    for path, option in pairs:
        title = " ".join(("modicmap", *path))
        assert title in sections, f"no section for {title}"
        assert f"<code>{option}" in sections[title], f"{option} missing from {title}"


def test_every_command_and_nested_subcommand_has_a_section_with_its_usage() -> None:
    parser = build_parser()
    sections = _sections(markdown(parser))
    paths = [c.path for c in commands(parser)]
    assert ("train", "lesions") in paths and ("train", "vertebrae") in paths
    assert ("train", "levels") in paths and ("run",) in paths
    for path in paths:
        title = " ".join(("modicmap", *path))
        assert f"usage: {title}" in sections[title]


def test_positional_arguments_and_defaults_are_shown() -> None:
    sections = _sections(markdown(build_parser()))
    assert "| <code>COHORT.csv</code> |" in sections["modicmap batch"]
    workers = r"\| <code>--workers WORKERS</code> \| .* \| <code>1</code> \|"
    assert re.search(workers, sections["modicmap batch"])


def test_every_csv_column_run_writes_is_documented() -> None:
    outputs = (ROOT / "docs" / "outputs.md").read_text()
    for column in (*ENDPLATE_COLUMNS, *LEVEL_COLUMNS):
        assert f"| `{column}` |" in outputs, f"docs/outputs.md does not explain {column}"


def test_readme_is_short_and_its_links_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "make demo" in readme and "make test" in readme
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to missing {target}"


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
    reason="mkdocs-material is not installed (pip install -e '.[test]')",
)
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (tmp_path / "cli" / "index.html").read_text()
    assert "--paint-graded" in cli and "modicmap train levels" in cli
    assert (tmp_path / "figures" / "report_spider2.png").is_file()


def test_the_default_bundle_records_no_machine_paths() -> None:
    """Paths in the bundle's record are relative to the project: a path of the machine it
    was trained on means nothing to a user."""
    import re

    from modicmap.models.bundle import default_bundle_dir

    text = (default_bundle_dir() / "modicmap.json").read_text()
    found = re.findall(r"""["'\s](/[\w.-]+/[\w./-]*)""", text)
    assert not found, f"absolute paths in the bundle JSON: {found[:3]}"
