"""No two packages of modicmap import each other (a lower stage never imports a higher one)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "modicmap"


def _package_imports() -> dict[str, set[str]]:
    """package -> the other modicmap packages its modules import (lazy imports included)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if len(parts) < 2:  # top-level modules (cli entry, labels, errors, ...) are shared
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                bits = name.split(".")
                inside = bits[0] == "modicmap" and len(bits) > 1 and bits[1] != parts[0]
                if inside and (ROOT / bits[1]).is_dir():
                    edges[parts[0]].add(bits[1])
    return dict(edges)


def test_no_two_packages_import_each_other() -> None:
    edges = _package_imports()
    assert edges["pipeline"] >= {"lesions", "grading"}, "the scan sees the pipeline's imports"
    cycles = sorted((a, b) for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))
    assert cycles == []


def test_grading_does_not_import_evaluation() -> None:
    assert "evaluation" not in _package_imports().get("grading", set())
