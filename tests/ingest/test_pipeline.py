"""End-to-end ingest: report, the int generation, the same lake under a memory limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.lake import open_lake


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path]) -> tuple[Path, Path]:
    return ingested_synth


def test_report_written_and_adds_up(built: tuple[Path, Path]) -> None:
    _, lake = built
    rep = open_lake(lake).report
    assert all(t["adds_up"] for t in rep["tables"].values())
    assert open_lake(lake).report_markdown.startswith("# Ingest report")
    assert rep["identity"]["persons"] > 0

    with open_lake(lake) as lk:
        tables = lk.tables("int")
        for name in ("persons", "person_keys", "mco_stays", "dcir_pharmacy", "ald", "deaths"):
            assert f"int.{name}" in tables and lk.table(f"int.{name}").count() > 0, name
        manifest = lk.manifest("int")
        assert manifest.counts["intermediate"] == rep["intermediate"]
        assert manifest.inputs["stg_files"] and manifest.engine == "duckdb"
        assert manifest.tables["clean__ER_PRS_F"].internal
        assert "int.clean__ER_PRS_F" not in tables


def test_mismatch_raises() -> None:
    from sndslab.ingest._report import AccountingMismatchError, build_report
    from sndslab.ingest._rules import RuleCounts

    rc = RuleCounts(rows_in={"X": 3}, kept={"X": 2})
    with pytest.raises(AccountingMismatchError):
        build_report(None, rc, None, {})


def _digest(lake: Path) -> dict[str, list[tuple[object, ...]]]:
    """Sorted rows of every dataset of stg/ and quarantine/ (by relative path) and of every
    int table, internal ones included (by name, through the lake's manifest)."""
    from sndslab.lake import known_tables, open_lake

    out: dict[str, list[tuple[object, ...]]] = {}
    with open_lake(lake) as lk:
        for layer in ("stg", "quarantine"):
            for path in sorted({p.parent for p in (lake / layer).rglob("*.parquet")}):
                rows = lk.con.fetchall(f"SELECT * FROM {lk.con.dataset(str(path))}")
                out[path.relative_to(lake).as_posix()] = sorted(rows, key=repr)
        for name in known_tables(lk.paths, internal=True):
            if name.startswith("int."):
                out[name] = sorted(lk.table(name).to_arrow().to_pylist(), key=repr)
    return out


def test_ingest_under_a_tight_memory_limit_gives_the_same_lake(
    ingested_synth: tuple[Path, Path], tmp_path: Path
) -> None:
    """Every step under a tight DuckDB memory limit (192 MB on one thread: about the buffers of
    one wide Parquet row group, the floor of DuckDB's writer; the benchmark runs 4.4 GB of CSV
    under 1 GB) writes exactly the lake of an unlimited run, and cleans its spill directory."""
    from sndslab.engines import get_engine
    from sndslab.ingest import ingest

    extract, reference = ingested_synth
    lake = tmp_path / "lake"
    engine = get_engine("duckdb", lake=lake, memory_limit="192MB", threads=1)
    result = ingest(extract / "raw", lake, engine=engine)
    assert set(result.timings) >= {"stage", "rules", "identity", "intermediate", "report"}
    assert not (lake / ".tmp").exists()  # (opening the lake below makes DuckDB's spill dir)
    assert _digest(lake) == _digest(reference)


def test_out_of_memory_is_a_clear_error_not_a_refused_file(tmp_path: Path) -> None:
    """Running out of memory is the run's problem, not the file's: one clear error naming the
    file and the setting, never a file silently marked unreadable."""
    from sndslab.engines import get_engine
    from sndslab.errors import SndslabError
    from sndslab.ingest import stage

    raw = tmp_path / "raw"
    raw.mkdir()
    from sndslab.registry import get_table

    text_cols = [c.name for c in get_table("ER_PRS_F").columns if c.type == "string"]
    header = ";".join(text_cols)
    line = ";".join(f"{i:040d}" for i in range(len(text_cols)))
    (raw / "ER_PRS_F_2020.csv").write_text(header + "\n" + "\n".join([line] * 60_000) + "\n")
    engine = get_engine("duckdb", lake=tmp_path / "lake", memory_limit="4MB", threads=1)
    with pytest.raises(SndslabError, match=r"ER_PRS_F_2020\.csv.*memory"):
        stage(raw, tmp_path / "lake", engine=engine)
