"""Property: whatever sequence of added, removed and modified raw files a lake's directory goes
through, ingesting after each step ends in the lake a clean ingest of the final directory
gives (tables, staged files and report accounts)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sndslab
from sndslab.ingest import ingest

#: Files the sequences play with (prefixes; IR_BEN_R stays: identity needs it).
PLAYED = ("ER_PRS_F", "ER_PHA_F", "T_MCO", "KI_ECD_R")


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny extract, and a "modified" version of the files the sequences play with: the same
    file without its last third of data lines."""
    base = tmp_path_factory.mktemp("property")
    sndslab.synthesize(base / "s", patients=100, years=(2019, 2019), seed=11)
    first, second = base / "s" / "raw", base / "modified"
    second.mkdir()
    names = sorted(p.name for p in first.iterdir())
    played = [next(n for n in names if n.startswith(p)) for p in PLAYED]
    for name in played:
        assert name.endswith(".csv"), name
        lines = (first / name).read_bytes().splitlines(keepends=True)
        (second / name).write_bytes(b"".join(lines[: 1 + 2 * (len(lines) - 1) // 3]))
    return {"first": first, "second": second, "played": played}


operation = st.tuples(st.sampled_from(["remove", "restore", "modify"]), st.integers(0, 3))


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(operation, min_size=1, max_size=3))
def test_incremental_ingests_equal_a_clean_ingest(
    steps: list[tuple[str, int]], variants: dict[str, Any], tmp_path: Path, fingerprint: Any
) -> None:
    work = Path(tmp_path) / f"run{abs(hash(tuple(steps)))}"
    raw, lake = work / "raw", work / "lake"
    shutil.copytree(variants["first"], raw)
    ingest(raw, lake, truth=False)
    for op, k in steps:
        name = variants["played"][k]
        if op == "remove":
            (raw / name).unlink(missing_ok=True)
        elif op == "restore":
            shutil.copy2(variants["first"] / name, raw / name)
        else:
            shutil.copy2(variants["second"] / name, raw / name)
        ingest(raw, lake, truth=False)
    clean_raw, clean = work / "clean_raw", work / "clean"
    shutil.copytree(raw, clean_raw)
    ingest(clean_raw, clean, truth=False)
    assert fingerprint(lake) == fingerprint(clean)
    shutil.rmtree(work)
