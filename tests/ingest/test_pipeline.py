"""End-to-end ingest: report, atomic int/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path]) -> tuple[Path, Path]:
    return ingested_synth


def test_report_written_and_adds_up(built: tuple[Path, Path]) -> None:
    _, lake = built
    rep = json.loads((lake / "_reports" / "ingest.json").read_text())
    assert all(t["adds_up"] for t in rep["tables"].values())
    assert (lake / "_reports" / "ingest.md").read_text().startswith("# Ingest report")
    assert rep["identity"]["persons"] > 0
    for name in ("persons", "person_keys", "mco_stays", "dcir_pharmacy", "ald", "deaths"):
        assert (lake / "int" / f"{name}.parquet").exists()


def test_mismatch_raises() -> None:
    from sndslab.ingest._report import AccountingMismatchError, build_report
    from sndslab.ingest._rules import RuleCounts

    rc = RuleCounts(rows_in={"X": 3}, kept={"X": 2})
    with pytest.raises(AccountingMismatchError):
        build_report(None, rc, None, {})
