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
    """Two tiny extracts of the same shape (seeds 11 and 12): a file's "modified" version is
    its namesake in the second one."""
    base = tmp_path_factory.mktemp("property")
    for seed in (11, 12):
        sndslab.synthesize(base / f"s{seed}", patients=100, years=(2019, 2019), seed=seed)
    first, second = base / "s11" / "raw", base / "s12" / "raw"
    names = sorted(p.name for p in first.iterdir())
    played = [next(n for n in names if n.startswith(p)) for p in PLAYED]
    assert all((second / n).is_file() for n in played)
    return {"first": first, "second": second, "played": played, "base": base}


operation = st.tuples(st.sampled_from(["remove", "restore", "modify"]), st.integers(0, 3))


@settings(
    max_examples=4,
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
