"""End-to-end ingest: report, atomic int/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _built_lake(factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(generator output, lake after ingest), built once per session (shared on disk)."""
    base = factory.getbasetemp() / "ingest_rules_lake"
    done = base / "done"
    if not done.exists():
        from sndslab.ingest._pipeline import ingest
        from sndslab.synth import SynthConfig, generate

        out = base / "synth"
        generate(
            SynthConfig(patients=2000, first_year=2019, last_year=2020, seed=1, chunk_size=1000),
            out,
        )
        ingest(out / "raw", base / "lake")
        done.write_text("ok")
    return base / "synth", base / "lake"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _built_lake(tmp_path_factory)


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
