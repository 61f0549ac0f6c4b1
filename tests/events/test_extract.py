# ruff: noqa: E501  (SQL assertions read better on one line)
"""Events against the int tables and the generator's truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

import sndslab
from sndslab.events import EventSchema, EventsResult, validate
from sndslab.lake import LakePaths, relation, write_generation


def _q(p: Path) -> str:
    return "'" + str(p) + "'"


@pytest.fixture(scope="module")
def con(
    events_lake: Path, events_result: EventsResult, views: Callable[..., Any]
) -> duckdb.DuckDBPyConnection:
    names = {"ev": "events.events", "pat": "events.patients", "codes": "events.codes"}
    for name in ("dcir_pharmacy", "mco_stays", "mco_diagnoses", "dcir_biology", "ald", "persons"):
        names[name] = f"int.{name}"
    c: duckdb.DuckDBPyConnection = views(events_lake, names)
    return c


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_written_files_validate(events_result: EventsResult) -> None:
    with sndslab.open_lake(events_result.lake) as lake:
        table = lake.table("events.events").to_arrow()
        manifest = lake.manifest("events")
    validate(table.select(EventSchema.names()).cast(EventSchema.arrow()))
    assert table.num_rows == events_result.events > 0
    assert manifest.counts["events"] == events_result.events
    assert manifest.generation == events_result.generation
    assert sorted(manifest.tables) == ["codes", "events", "patients"]
    assert manifest.tables["events"].rows == events_result.events


#: Extractors of source rows the synthetic generator does not write (T_SSRaaCCAM, T_HADaaA):
#: their int table is not in the extract (skipped, with the raw tables it would come from) or
#: holds no such row.
NOT_GENERATED = {"ssr_ccam_act": "T_SSRaaCCAM, T_SSRaaCSARR", "had_ccam_act": "T_HADaaA"}


def test_every_row_accounted(events_result: EventsResult) -> None:
    skipped = {r.name: r.skipped for r in events_result.runs if r.skipped is not None}
    assert set(skipped) <= set(NOT_GENERATED), skipped
    for name, table in NOT_GENERATED.items():
        run = events_result.run(name)
        assert run.rows == 0 and run.skipped in (None, f"not in the extract: no {table} staged")
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


def test_patients(con: duckdb.DuckDBPyConnection) -> None:
    n = _one(con, "SELECT count(*) FROM persons")
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


def _add_ccam_acts(lake: Path) -> None:
    """A new int generation of ``lake`` whose ``ssr_acts`` and ``had_acts`` hold, besides their
    rows, CCAM acts of the stays: two per stay (n = 1, 2), a third one only for the stays of
    the earliest entry date, without a code; every other int table is carried over."""
    opened = sndslab.open_lake(lake)
    con, paths = opened.con, LakePaths(str(lake), opened.con.storage)

    def rel(name: str) -> str:
        return relation(con, paths, name)

    ccam = f"(SELECT min(CAM_PRS_IDE_COD) FROM {rel('int.ref_ir_ccam_v63')})"
    acts = {  # table: (stays, keys, extra select, kind)
        "ssr_acts": ("ssr_stays", "s.ETA_NUM, s.RHA_NUM", "'ccam' AS kind, "),
        "had_acts": ("had_stays", "s.ETA_NUM_EPMSI, s.RHAD_NUM", ""),
    }
    previous = {t for t, e in opened.manifest("int").tables.items()}
    with write_generation(paths, "int", con) as w:
        for table in sorted(previous - set(acts)):
            w.carry(table)
        for table, (stays, keys, kind) in acts.items():
            st = rel(f"int.{stays}")
            new = f"""SELECT {keys}, s._year, s.person_id, s.entry_date, {kind}
                CASE WHEN k.n < 3 THEN {ccam} END AS code, CAST(k.n AS DOUBLE) AS quantity,
                '4' AS modifier, '{table}.csv' AS _source_file,
                CAST(row_number() OVER (ORDER BY {keys}, s._year, k.n) AS BIGINT) AS _source_line
            FROM {st} s, (VALUES (1), (2), (3)) k(n)
            WHERE k.n < 3 OR s.entry_date = (SELECT min(entry_date) FROM {st})"""
            if table in previous:
                new = f"SELECT * FROM {rel(f'int.{table}')} UNION ALL BY NAME {new}"
            w.write(table, new)
    opened.close()


def test_ssr_and_had_ccam_acts(
    ingested_synth: tuple[Path, Path], tmp_path: Path, views: Callable[..., Any]
) -> None:
    """The generator writes no T_SSRaaCCAM / T_HADaaA: a copy of the lake gets a new int
    generation with CCAM acts of both (two acts per stay, one act without a code) and the
    extractors must emit them."""
    import shutil

    from sndslab.events import extract_events

    lake = tmp_path / "lake"
    shutil.copytree(ingested_synth[1], lake, ignore=shutil.ignore_patterns("events"))
    _add_ccam_acts(lake)
    result = extract_events(lake, extractors=["ssr_ccam_act", "had_ccam_act"])
    c = views(
        lake,
        {
            "ev": "events.events",
            "ssr_stays": "int.ssr_stays",
            "had_stays": "int.had_stays",
            "ccam": "int.ref_ir_ccam_v63",
        },
    )
    ev = c.execute("SELECT * FROM ev").to_arrow_table().to_pylist()
    code = c.execute("SELECT min(CAM_PRS_IDE_COD) FROM ccam").fetchone()
    assert code is not None
    for name, stays, prefix in (
        ("ssr_ccam_act", "ssr_stays", "SSR|"),
        ("had_ccam_act", "had_stays", "HAD|"),
    ):
        n_stays = _one(c, f"SELECT count(*) FROM {stays}")
        first = _one(
            c,
            f"SELECT count(*) FROM {stays} WHERE entry_date = (SELECT min(entry_date) FROM {stays})",
        )
        linked = _one(c, f"SELECT count(*) FROM {stays} WHERE person_id IS NOT NULL")
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
            "SELECT concat_ws('|', 'SSR', ETA_NUM, RHA_NUM, _year), entry_date FROM ssr_stays"
        ).fetchall()
    )
    assert all(e["start"] == entry[e["stay_id"]] for e in ev if e["stay_id"].startswith("SSR|"))
