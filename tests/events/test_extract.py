# ruff: noqa: E501  (SQL assertions read better on one line)
"""Events against the int tables and the generator's truth."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from sndslab.events import EventSchema, EventsResult, validate


def _q(p: Path) -> str:
    return "'" + str(p) + "'"


@pytest.fixture(scope="module")
def con(events_lake: Path, events_result: EventsResult) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(
        f"CREATE VIEW ev AS SELECT * FROM read_parquet({_q(events_result.events_dir / '*.parquet')})"
    )
    c.execute(f"CREATE VIEW pat AS SELECT * FROM read_parquet({_q(events_result.patients_path)})")
    c.execute(f"CREATE VIEW codes AS SELECT * FROM read_parquet({_q(events_result.codes_path)})")
    for name in ("dcir_pharmacy", "mco_stays", "mco_diagnoses", "dcir_biology", "ald"):
        c.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_q(events_lake / 'int' / (name + '.parquet'))})"
        )
    return c


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_written_files_validate(events_result: EventsResult) -> None:
    table = pq.read_table(events_result.events_dir)
    validate(table.select(EventSchema.names()).cast(EventSchema.arrow()))
    assert table.num_rows == events_result.events > 0
    manifest = json.loads((events_result.lake / "events" / "manifest.json").read_text())
    assert manifest["events"] == events_result.events


def test_every_row_accounted(events_result: EventsResult) -> None:
    for r in events_result.runs:
        assert r.skipped is None, r
        dropped = r.null_person + r.null_code + r.null_start + r.sentinel_start
        assert r.rows == r.emitted + dropped, r
    assert sum(r.emitted for r in events_result.runs) == events_result.events


def test_no_sentinel_dates(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        _one(
            con,
            "SELECT count(*) FROM ev WHERE start < DATE '1900-01-01' OR start IN (DATE '1970-01-01', DATE '1600-01-01')",
        )
        == 0
    )
    assert (
        _one(
            con,
            "SELECT count(*) FROM ev WHERE \"end\" < DATE '1900-01-01' OR \"end\" IN (DATE '1970-01-01', DATE '1600-01-01')",
        )
        == 0
    )


def test_events_within_life(con: duckdb.DuckDBPyConnection) -> None:
    assert _one(con, "SELECT count(*) FROM ev ANTI JOIN pat USING (person_id)") == 0
    before_birth = _one(
        con,
        "SELECT count(*) FROM ev JOIN pat USING (person_id) WHERE ev.start < pat.birth_date_min",
    )
    after_death = _one(
        con, "SELECT count(*) FROM ev JOIN pat USING (person_id) WHERE ev.start > pat.death_date"
    )
    assert (before_birth, after_death) == (0, 0)


def test_counts_match_int_tables(
    con: duckdb.DuckDBPyConnection, events_result: EventsResult
) -> None:
    by = events_result.by_category()
    assert by["dispensing"] == _one(con, "SELECT count(*) FROM dcir_pharmacy")
    assert by["biology"] == _one(con, "SELECT count(*) FROM dcir_biology")
    assert by["ald"] == _one(con, "SELECT count(*) FROM ald WHERE person_id IS NOT NULL")
    stays = events_result.run("mco_stay")
    assert stays.emitted == _one(con, "SELECT count(*) FROM mco_stays WHERE person_id IS NOT NULL")
    assert stays.emitted + stays.null_person == _one(con, "SELECT count(*) FROM mco_stays")
    dx = events_result.run("mco_diagnosis")
    assert dx.rows == _one(
        con, "SELECT count(*) FROM mco_diagnoses WHERE role IN ('DP', 'DR', 'DAS')"
    )


def test_mco_stays_against_truth(con: duckdb.DuckDBPyConnection, events_extract: Path) -> None:
    truth = events_extract / "truth"
    n_truth = _one(con, f"SELECT count(*) FROM read_parquet({_q(truth / 'stays.parquet')})")
    n_int = _one(con, "SELECT count(*) FROM mco_stays")
    n_events = _one(
        con, "SELECT count(*) FROM ev WHERE category = 'stay' AND starts_with(code, 'GHM//')"
    )
    # named ingest rules (FINESS duplicates, return codes, GHM 90*, SEJ_TYP B...) drop stays:
    # events never exceed the truth, and equal the linked kept int stays exactly.
    assert n_events <= n_int <= n_truth
    assert n_events == _one(con, "SELECT count(*) FROM mco_stays WHERE person_id IS NOT NULL")


def test_hospital_falls_against_truth(con: duckdb.DuckDBPyConnection, events_extract: Path) -> None:
    """Truth: every hospital-channel fall is one MCO stay of kind 'fall' (DP S72, S52 or S32).
    Femur fractures (DP S72*) in events == kept, linked int stays with DP S72*; the truth S72
    stays (falls + background) minus those removed by named ingest rules or left unlinked."""
    truth = events_extract / "truth"
    t = f"read_parquet({_q(truth / 'stays.parquet')})"
    f = f"read_parquet({_q(truth / 'falls.parquet')})"
    falls = _one(con, f"SELECT count(*) FROM {f} WHERE channel = 'hospital'")
    fall_stays = _one(con, f"SELECT count(*) FROM {t} WHERE kind = 'fall'")
    assert falls == fall_stays
    truth_s72 = _one(con, f"SELECT count(*) FROM {t} WHERE starts_with(dp, 'S72')")
    fall_s72 = _one(con, f"SELECT count(*) FROM {t} WHERE starts_with(dp, 'S72') AND kind = 'fall'")
    int_s72 = _one(con, "SELECT count(*) FROM mco_stays WHERE starts_with(dp, 'S72')")
    kept_s72 = _one(
        con, "SELECT count(*) FROM mco_stays WHERE starts_with(dp, 'S72') AND person_id IS NOT NULL"
    )
    ev_s72 = _one(
        con,
        "SELECT count(*) FROM ev WHERE category = 'diagnosis' AND modifier = 'DP' AND starts_with(code, 'ICD10//S72') AND source_table = 'mco_diagnoses'",
    )
    assert ev_s72 == kept_s72 <= int_s72 <= truth_s72
    assert fall_s72 <= truth_s72
    # at most the rule-filtered/unlinked stays are missing
    assert truth_s72 - ev_s72 == (truth_s72 - int_s72) + (int_s72 - kept_s72)


def test_codes_cover_events(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        _one(
            con, "SELECT count(*) FROM (SELECT DISTINCT code FROM ev) ANTI JOIN codes USING (code)"
        )
        == 0
    )
    row = con.execute(
        "SELECT parent_codes FROM codes WHERE code LIKE 'ATC//_______' LIMIT 1"
    ).fetchone()
    assert row is not None and len(row[0]) == 4
    s72 = con.execute(
        "SELECT parent_codes FROM codes WHERE code LIKE 'ICD10//S72%' AND length(code) > 10 LIMIT 1"
    ).fetchone()
    assert s72 is not None and "ICD10//S72" in s72[0] and "ICD10_CHAPTER//XIX" in s72[0]


def test_patients(con: duckdb.DuckDBPyConnection, events_lake: Path) -> None:
    n = _one(
        con, f"SELECT count(*) FROM read_parquet({_q(events_lake / 'int' / 'persons.parquet')})"
    )
    assert (
        _one(con, "SELECT count(DISTINCT person_id) FROM pat")
        == _one(con, "SELECT count(*) FROM pat")
        == n
    )
    assert (
        _one(con, "SELECT count(*) FROM pat WHERE death_date IS NOT NULL AND death_source IS NULL")
        == 0
    )
    assert _one(con, "SELECT count(residence_region) FROM pat") > 0


def test_mco_stay_date_quality(con: duckdb.DuckDBPyConnection) -> None:
    rows = dict(
        con.execute(
            "SELECT date_quality, count(*) FROM ev WHERE source_table = 'mco_stays' GROUP BY 1"
        ).fetchall()
    )
    assert set(rows) <= {"exact", "estimated"}
