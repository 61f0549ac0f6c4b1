"""Architecture rules, checked on the source: layers import downwards only, and no stage spells
a lake path or runs statements the engine seam does not offer.

Layers (low → high): errors/_faults/_atomic → engines, registry, referentials → lake, synth →
ingest, events → analysis layers → cli and the top-level API. A module may import its own
package and lower layers only, including imports inside functions (an import moved into a
function to dodge a cycle is still a layering violation).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sndslab"

RANK: dict[str, int] = {
    "errors": -1,
    "_faults": -1,
    "_atomic": 0,
    "_yaml": 0,
    "engines": 1,
    "registry": 1,
    "referentials": 1,
    "lake": 2,
    "synth": 2,
    "ingest": 3,
    "events": 3,
    "indicators": 5,
    "supply": 6,
    "pathways": 6,
    "cohorts": 6,
    "signals": 7,
    "predict": 7,
    "forecast": 7,
    "networks": 7,
    "fraud": 7,
    "analysis": 4,
    "release": 3,
    "opendamir": 4,
    "dashboard": 8,
    "cli": 9,
    "_api": 9,
    "__main__": 10,
    "__init__": 10,
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "sndslab":
                out.append((node.lineno, parts[1] if len(parts) > 1 else "__init__"))
    return out


SOURCES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_has_a_rank() -> None:
    packages = {_package(p) for p in SOURCES}
    assert packages <= set(RANK), f"give these packages a layer: {packages - set(RANK)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_downwards(path: Path) -> None:
    own = _package(path)
    bad = []
    for line, target in _imports(path):
        if target == own:
            continue
        if target == "__init__":  # `from sndslab import __version__`: the root's constants
            continue
        if RANK.get(target, 99) >= RANK[own]:
            bad.append(f"line {line}: sndslab.{own} imports sndslab.{target}")
    assert not bad, "\n".join(bad)


#: Hand-spelled lake paths (layer directories joined by hand) outside the lake package.
_LAKE_PATH = re.compile(
    r"""(/\s*["'](stg|int|events|marts|quarantine|_state|_reports)["'])"""
    r"""|(["'](stg|int|events|quarantine)/)"""
    r"""|read_parquet\(\s*\{?_?q"""
)


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES if _package(p) not in ("lake", "synth")],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_no_hand_spelled_lake_paths(path: Path) -> None:
    hits = [
        f"line {i}: {line.strip()}"
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _LAKE_PATH.search(line) and "lake-path-ok" not in line
    ]
    assert not hits, "go through sndslab.lake:\n" + "\n".join(hits)


_FORBIDDEN = {
    "statement regexes or a DuckDB-only dispatch": re.compile(
        r"isinstance\([^)]*DuckDBPyConnection|SparkSqlConnection|ingest\._spark_sql"
    ),
    "an untyped connection": re.compile(r"\bcon: Any\b"),
}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_engine_seam_is_used(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [what for what, rx in _FORBIDDEN.items() if rx.search(text)]
    assert not found, f"{path.name}: {found}"
