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


#: Extractors of tables the synthetic generator does not write (skipped, with the reason).
NOT_GENERATED = {"ssr_ccam_act": "clean/T_SSRaaCCAM", "had_ccam_act": "clean/T_HADaaA"}


def test_every_row_accounted(events_result: EventsResult) -> None:
    skipped = {r.name: r.skipped for r in events_result.runs if r.skipped is not None}
    assert set(skipped) == set(NOT_GENERATED), skipped
    for name, table in NOT_GENERATED.items():
        assert skipped[name] == f"absent: [{table!r}]"
    for r in events_result.runs:
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


def test_ssr_and_had_ccam_acts(
    ingested_synth: tuple[Path, Path], tmp_path: Path
) -> None:
    """The generator writes no T_SSRaaCCAM / T_HADaaA: a copy of the lake gets kept rows of
    both (two acts per stay, one act without a code) and the extractors must emit them."""
    import shutil

    from sndslab.events import extract_events

    lake = tmp_path / "lake"
    shutil.copytree(ingested_synth[1], lake, ignore=shutil.ignore_patterns("events"))
    c = duckdb.connect()
    ccam = f"(SELECT min(CAM_PRS_IDE_COD) FROM read_parquet({_q(lake / 'stg' / 'IR_CCAM_V63' / '**' / '*.parquet')}))"
    tables = {
        "T_SSRaaCCAM": ("ssr_stays", "s.ETA_NUM, s.RHA_NUM, '1' AS RHS_NUM, CAST(k.n AS DOUBLE) AS CCAM_DEL_ENT_UM, CASE WHEN k.n < 3 THEN {ccam} END AS CCAM_ACT, '1' AS CCAM_COD_ACT, CAST(k.n AS BIGINT) AS CCAM_NBR_REA"),
        "T_HADaaA": ("had_stays", "s.ETA_NUM_EPMSI, s.RHAD_NUM, '1' AS SEQ_NUM, '1' AS SSEQ_NUM, CASE WHEN k.n < 3 THEN {ccam} END AS CCAM_COD, '4' AS ACT_COD, CAST(k.n AS BIGINT) AS REAL_NBR, CAST(0 AS DOUBLE) AS DEL_DEB_SSEQ"),
    }
    for table, (stays, cols) in tables.items():
        out = lake / "int" / "clean" / table / "data.parquet"
        out.parent.mkdir(parents=True)
        # two acts of each stay (n = 1, 2), a third act only for the first stay, without a code
        c.execute(
            f"""COPY (SELECT {cols.format(ccam=ccam)}, '{table}.csv' AS _source_file,
                row_number() OVER () AS _source_line, s._year
            FROM read_parquet({_q(lake / 'int' / (stays + '.parquet'))}) s, (VALUES (1), (2), (3)) k(n)
            WHERE k.n < 3 OR s.entry_date = (SELECT min(entry_date) FROM read_parquet({_q(lake / 'int' / (stays + '.parquet'))})))
            TO {_q(out)} (FORMAT PARQUET)"""
        )
    result = extract_events(lake, extractors=["ssr_ccam_act", "had_ccam_act"])
    ev = pq.read_table(result.events_dir).to_pylist()
    code = c.execute(ccam).fetchone()
    assert code is not None
    for name, stays, prefix in (("ssr_ccam_act", "ssr_stays", "SSR|"), ("had_ccam_act", "had_stays", "HAD|")):
        path = _q(lake / "int" / (stays + ".parquet"))
        n_stays = _one(c, f"SELECT count(*) FROM read_parquet({path})")
        first = _one(c, f"SELECT count(*) FROM read_parquet({path}) WHERE entry_date = (SELECT min(entry_date) FROM read_parquet({path}))")
        linked = _one(c, f"SELECT count(*) FROM read_parquet({path}) WHERE person_id IS NOT NULL")
        run = result.run(name)
        assert n_stays > 0 and run.skipped is None
        assert run.rows == 2 * n_stays + first
        assert run.emitted == 2 * linked and run.null_code == first
        mine = [e for e in ev if e["stay_id"].startswith(prefix)]
        assert len(mine) == run.emitted
        assert {(e["code"], e["category"], e["date_quality"]) for e in mine} == {
            (f"CCAM//{code[0]}", "act", "estimated")
        }
        assert sorted({e["quantity"] for e in mine}) == [1.0, 2.0]
    entry = dict(
        c.execute(
            f"SELECT concat_ws('|', 'SSR', ETA_NUM, RHA_NUM, _year), entry_date FROM read_parquet({_q(lake / 'int' / 'ssr_stays.parquet')})"
        ).fetchall()
    )
    assert all(e["start"] == entry[e["stay_id"]] for e in ev if e["stay_id"].startswith("SSR|"))
