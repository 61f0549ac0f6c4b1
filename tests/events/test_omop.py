"""OMOP CDM 5.4 export: validates against the CDM DDL, accounts for every event, leaks no
identifier, and validate_omop rejects broken exports naming the table and the column."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab._atomic import OUTPUT_MARKER
from sndslab.cli import app
from sndslab.errors import OutputExistsError
from sndslab.events import (
    Category,
    EventsResult,
    OmopResult,
    OmopValidationError,
    to_meds,
    to_omop,
    validate_omop,
)
from sndslab.events._omop import CATEGORY_TABLE, CUSTOM_CONCEPT_BASE
from sndslab.events._omop_cdm import CDM_TABLES, ddl
from sndslab.lake import relation, write_generation

EVENT_TABLES = (
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "measurement",
)


@pytest.fixture(scope="module")
def omop(
    events_result: EventsResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[OmopResult, Path]:
    out = tmp_path_factory.mktemp("omop") / "omop"
    return to_omop(events_result.lake, out, salt="test"), out


def _src(out: Path, table: str) -> str:
    """The CDM table ``table`` of the export ``out`` (its dataset directory)."""
    return f"read_parquet('{out / table / '*.parquet'}')"


def _sql(out: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` where ``{table}`` placeholders read ``out/<table>/*.parquet``."""
    names = {t: _src(out, t) for t in CDM_TABLES}
    return duckdb.sql(sql.format(**names)).fetchall()


def test_ddl_declares_the_cdm_54_tables() -> None:
    # column counts of the official OMOPCDM_duckdb_5.4_ddl.sql for the exported tables
    expected = {
        "person": 18, "observation_period": 5, "visit_occurrence": 17,
        "condition_occurrence": 16, "drug_exposure": 23, "procedure_occurrence": 16,
        "measurement": 23, "death": 7, "concept": 10, "vocabulary": 5,
        "concept_relationship": 6, "source_to_concept_map": 9,
    }  # fmt: skip
    assert {t: len(c) for t, c in CDM_TABLES.items()} == expected
    req = {(t, c.name) for t, cols in CDM_TABLES.items() for c in cols if c.required}
    assert ("drug_exposure", "drug_exposure_end_date") in req
    assert ("visit_occurrence", "visit_end_date") in req
    assert ("death", "death_type_concept_id") not in req
    assert ("condition_occurrence", "condition_end_date") not in req
    con = duckdb.connect()
    con.execute("CREATE SCHEMA cdm")
    con.execute(ddl())
    got = con.execute(
        "SELECT table_name, count(*) FROM information_schema.columns "
        "WHERE table_schema = 'cdm' GROUP BY 1"
    ).fetchall()
    assert dict(got) == expected


def test_export_validates_against_the_ddl(omop: tuple[OmopResult, Path]) -> None:
    result, out = omop
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*CDM_TABLES, "_manifest.json", OUTPUT_MARKER]
    )
    assert all((out / t).is_dir() and any((out / t).glob("part-*.parquet")) for t in CDM_TABLES)
    counts = validate_omop(out)
    assert counts == result.rows
    assert all(counts[t] > 0 for t in CDM_TABLES), counts
    schema = pq.read_schema(next((out / "person").glob("*.parquet")))
    assert str(schema.field("person_id").type) == "int32"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["cdm_version"] == "5.4" and manifest["counts"] == result.rows
    assert manifest["format"] == "omop" and manifest["events_generation"] >= 1
    assert manifest["sndslab_version"] and "git_revision" in manifest
    assert manifest["events_by_category"] == result.events_by_category
    assert "salt" not in json.dumps(manifest)


def test_every_event_lands_in_one_table(
    omop: tuple[OmopResult, Path], events_result: EventsResult
) -> None:
    result, out = omop
    assert result.events == events_result.events
    per_category = {c: sum(d.values()) for c, d in result.events_by_category.items()}
    assert per_category == {c: n for c, n in events_result.by_category().items() if n}
    for category, where in result.events_by_category.items():
        tables = [k for k in where if not k.startswith("not_exported:")]
        assert tables == [CATEGORY_TABLE[category]]  # type: ignore[index]
    for table in EVENT_TABLES:
        landed = sum(d.get(table, 0) for d in result.events_by_category.values())
        assert landed == result.rows[table], table
    exported = sum(result.rows[t] for t in EVENT_TABLES)
    assert exported + sum(result.not_exported.values()) == events_result.events
    by_cat = events_result.by_category()
    # the rows of each kind are where the accounting says they are
    (er,) = _sql(out, "SELECT count(*) FROM {visit_occurrence} WHERE visit_concept_id = 9203")[0]
    assert er == by_cat["emergency"]
    (certificate,) = _sql(
        out, "SELECT count(*) FROM {condition_occurrence} WHERE condition_type_concept_id = 32815"
    )[0]
    assert certificate == by_cat["death_cause"]
    (inpatient,) = _sql(
        out, "SELECT count(*) FROM {visit_occurrence} WHERE visit_concept_id IN (9201, 581476)"
    )[0]
    assert inpatient == by_cat["stay"]


def test_no_identifier_leaks(
    omop: tuple[OmopResult, Path], events_result: EventsResult, views: Any
) -> None:
    _, out = omop
    con = views(events_result.lake, {"persons": "int.persons", "ben": "stg.IR_BEN_R"})
    con.execute(
        """CREATE TABLE ids AS
        SELECT person_id AS v FROM persons UNION SELECT ben_idt_ano FROM persons
        UNION SELECT BEN_NIR_PSA FROM ben UNION SELECT BEN_IDT_ANO FROM ben"""
    )
    assert con.execute("SELECT count(*) FROM ids").fetchone()[0] > 2000
    for table, cols in CDM_TABLES.items():
        src = _src(out, table)
        for c in cols:
            hits = con.execute(
                f"SELECT count(*) FROM {src} t JOIN ids ON CAST(t.{c.name} AS VARCHAR) = ids.v"
            ).fetchone()[0]
            assert hits == 0, f"{table}.{c.name} holds SNDS identifiers"
            if c.duckdb_type == "VARCHAR":
                keys = con.execute(
                    f"SELECT count(*) FROM {src} WHERE contains({c.name}, '.csv|')"
                ).fetchone()[0]
                assert keys == 0, f"{table}.{c.name} holds source row keys"
    assert _sql(out, "SELECT count(person_source_value) FROM {person}") == [(0,)]
    n = _sql(out, "SELECT count(*), min(person_id), max(person_id) FROM {person}")[0]
    assert n[1:] == (1, n[0])  # a 1..N surrogate


def test_person_ids_follow_the_meds_surrogate(
    omop: tuple[OmopResult, Path], events_result: EventsResult, tmp_path: Path
) -> None:
    _, out = omop
    meds = Path(to_meds(events_result.lake, tmp_path / "meds", salt="test"))
    meds_dead = duckdb.sql(
        f"SELECT DISTINCT subject_id FROM read_parquet('{meds / 'data' / '*.parquet'}') "
        "WHERE code = 'MEDS_DEATH' ORDER BY 1"
    ).fetchall()
    assert _sql(out, "SELECT person_id FROM {death} ORDER BY 1") == meds_dead
    other = to_omop(events_result.lake, tmp_path / "omop2", salt="other")
    assert other.rows == validate_omop(tmp_path / "omop2")
    same = _sql(out, "SELECT list(person_id ORDER BY death_date, person_id) FROM {death}")
    differs = duckdb.sql(
        f"SELECT list(person_id ORDER BY death_date, person_id) "
        f"FROM {_src(tmp_path / 'omop2', 'death')}"
    ).fetchall()
    assert same != differs  # ids depend on the salt, not on the SNDS identifier alone


def test_death_consistent_with_patients(
    omop: tuple[OmopResult, Path], events_result: EventsResult, views: Any
) -> None:
    _, out = omop
    expected = (
        views(events_result.lake, {"pat": "events.patients"})
        .execute(
            """SELECT death_date, CASE death_source WHEN 'KI_CCI_R' THEN 32815
                     WHEN 'PMSI_MCO' THEN 32812 WHEN 'IR_BEN_R' THEN 32813 END
            FROM pat WHERE death_date IS NOT NULL ORDER BY ALL"""
        )
        .fetchall()
    )
    got = _sql(out, "SELECT death_date, death_type_concept_id FROM {death} ORDER BY ALL")
    assert got == expected and len(got) > 0
    # the cause of death is the initial CépiDc cause, a local ICD-10 concept
    rows = _sql(
        out,
        """SELECT d.cause_source_value, c.vocabulary_id, c.concept_code FROM {death} d
        JOIN {concept} c ON c.concept_id = d.cause_source_concept_id""",
    )
    assert rows and all(v == "SNDS_ICD10" and code == src for src, v, code in rows)
    # no record after the observation period of a dead person
    late = _sql(
        out,
        """SELECT count(*) FROM {death} d JOIN {observation_period} o USING (person_id)
        WHERE o.observation_period_start_date > d.death_date
          AND o.observation_period_end_date - o.observation_period_start_date > 0""",
    )
    assert late == [(0,)]


def test_concepts_and_mappings(omop: tuple[OmopResult, Path]) -> None:
    _, out = omop
    # standard concepts: 0 for SNDS codes; source concepts local (>= 2e9) and resolvable
    for table, std, src in [
        ("condition_occurrence", "condition_concept_id", "condition_source_concept_id"),
        ("drug_exposure", "drug_concept_id", "drug_source_concept_id"),
        ("procedure_occurrence", "procedure_concept_id", "procedure_source_concept_id"),
        ("measurement", "measurement_concept_id", "measurement_source_concept_id"),
    ]:
        (row,) = _sql(
            out, f"SELECT max({std}), min({src}), count({src}) - count(*) FROM {{{table}}}"
        )
        assert row == (0, row[1], 0) and row[1] >= CUSTOM_CONCEPT_BASE, table
    genders = _sql(out, "SELECT DISTINCT gender_concept_id FROM {person} ORDER BY 1")
    assert genders == [(8507,), (8532,)]
    sex_map = _sql(
        out,
        "SELECT source_code, target_concept_id FROM {source_to_concept_map} "
        "WHERE source_vocabulary_id = 'SNDS_SEX' ORDER BY 1",
    )
    assert sex_map == [("1", 8507), ("2", 8532)]
    # a dispensed CIP13 pack keeps its ATC class through concept_relationship 'Is a'
    (n_drugs, with_atc) = _sql(
        out,
        """SELECT count(*), count(*) FILTER (WHERE EXISTS (
            SELECT 1 FROM {concept_relationship} r JOIN {concept} a ON a.concept_id = r.concept_id_2
            WHERE r.concept_id_1 = d.drug_source_concept_id AND r.relationship_id = 'Is a'
              AND a.vocabulary_id = 'SNDS_ATC'))
        FROM {drug_exposure} d JOIN {concept} c ON c.concept_id = d.drug_source_concept_id
        WHERE c.vocabulary_id = 'SNDS_CIP13'""",
    )[0]
    assert n_drugs > 1000 and with_atc == n_drugs
    (vocabs,) = _sql(out, "SELECT list(vocabulary_id ORDER BY 1) FROM {vocabulary}")[0]
    assert {"SNDS_ICD10", "SNDS_ATC", "SNDS_CIP13", "SNDS_CCAM", "SNDS_NABM"} <= set(vocabs)


def test_observation_periods_cover_the_window_and_old_ald(
    omop: tuple[OmopResult, Path], events_result: EventsResult, views: Any
) -> None:
    result, out = omop
    assert result.window == ("2019-01-01", "2020-12-31")
    assert result.persons_not_exported == {"no_year_of_birth": 0, "no_observation_period": 0}
    (full,) = _sql(
        out,
        """SELECT count(DISTINCT person_id) FROM {observation_period}
        WHERE observation_period_start_date <= DATE '2019-01-01'
          AND observation_period_end_date >= DATE '2020-12-31'""",
    )[0]
    (alive,) = (
        views(events_result.lake, {"pat": "events.patients"})
        .execute(
            """SELECT count(*) FROM pat WHERE birth_date_min <= DATE '2019-01-01'
              AND (death_date IS NULL OR death_date >= DATE '2020-12-31')"""
        )
        .fetchall()[0]
    )
    assert full == alive
    # an ALD exemption started before the window lies in a one-day period, not a long one
    rows = _sql(
        out,
        """SELECT max(o.observation_period_end_date - o.observation_period_start_date), count(*)
        FROM {condition_occurrence} c JOIN {observation_period} o
          ON o.person_id = c.person_id AND c.condition_start_date
             BETWEEN o.observation_period_start_date AND o.observation_period_end_date
        WHERE c.condition_start_date < DATE '2019-01-01'""",
    )
    assert rows[0][0] == 0 and rows[0][1] > 0


_CORRUPTIONS = [
    ("person", "year_of_birth", "CASE WHEN person_id = 1 THEN NULL ELSE year_of_birth END",
     r"table person, column 'year_of_birth': 1 NULL value"),
    ("drug_exposure", "drug_exposure_end_date", "NULL::DATE",
     r"table drug_exposure, column 'drug_exposure_end_date': \d+ NULL value"),
    ("person", "person_id", "CAST(person_id AS BIGINT)",
     r"table person, column 'person_id': type BIGINT, expected INTEGER"),
    ("condition_occurrence", "condition_source_value", "repeat('x', 51)",
     r"table condition_occurrence, column 'condition_source_value': \d+ value\(s\) longer"),
    ("measurement", "visit_occurrence_id", "CAST(999999999 AS INTEGER)",
     r"table measurement, column 'visit_occurrence_id': \d+ row\(s\) referencing"),
    ("death", "person_id", "CAST(person_id + 1000000 AS INTEGER)",
     r"table death, column 'person_id': \d+ row\(s\) whose person is not in person"),
    ("procedure_occurrence", "procedure_date", "DATE '1901-01-01'",
     r"table procedure_occurrence, column 'procedure_date': \d+ row\(s\) outside every"),
    ("drug_exposure", "drug_source_concept_id", "CAST(123 AS INTEGER)",
     r"table drug_exposure, column 'drug_source_concept_id': \d+ concept id\(s\) not in"),
]  # fmt: skip


@pytest.mark.parametrize(("table", "column", "expr", "message"), _CORRUPTIONS)
def test_corrupted_export_is_rejected(
    omop: tuple[OmopResult, Path], tmp_path: Path, table: str, column: str, expr: str, message: str
) -> None:
    _, out = omop
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    path = bad / table / "part-00000.parquet"
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE t AS SELECT * REPLACE ({expr} AS {column}) FROM read_parquet('{path}')"
    )
    con.execute(f"COPY t TO '{path}' (FORMAT PARQUET)")
    with pytest.raises(OmopValidationError, match=message):
        validate_omop(bad)


def test_missing_or_extra_columns_are_rejected(
    omop: tuple[OmopResult, Path], tmp_path: Path
) -> None:
    _, out = omop
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    path = bad / "death" / "part-00000.parquet"
    duckdb.sql(
        "COPY (SELECT * EXCLUDE (cause_source_value), 1 AS extra "
        f"FROM read_parquet('{path}')) TO '{path}.tmp' (FORMAT PARQUET)"
    )
    Path(f"{path}.tmp").replace(path)
    with pytest.raises(OmopValidationError, match=r"table death: column 'cause_source_value'"):
        validate_omop(bad)
    shutil.rmtree(bad / "measurement")
    with pytest.raises(OmopValidationError, match=r"table measurement: measurement/ is missing"):
        validate_omop(bad)


def test_existing_output_is_kept(events_result: EventsResult, tmp_path: Path) -> None:
    out = tmp_path / "omop"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError):
        to_omop(events_result.lake, out)
    assert (out / "keep.txt").read_text() == "x"


def test_cli_export_omop_and_meds(events_result: EventsResult, tmp_path: Path) -> None:
    runner = CliRunner()
    lake = str(events_result.lake)
    res = runner.invoke(app, ["export", "omop", lake, "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "condition_occurrence" in res.output and (tmp_path / "o" / "person").is_dir()
    again = runner.invoke(app, ["export", "omop", lake, "--out", str(tmp_path / "o")])
    assert (
        again.exit_code == 2
        and again.output.startswith("error: ")
        and "--overwrite" in again.output
    )
    assert len(again.output.strip().splitlines()) == 1
    over = runner.invoke(app, ["export", "omop", lake, "--out", str(tmp_path / "o"), "--overwrite"])
    assert over.exit_code == 0, over.output
    nolake = runner.invoke(app, ["export", "omop", str(tmp_path), "--out", str(tmp_path / "x")])
    assert (
        nolake.exit_code == 2
        and nolake.output.startswith("error: ")
        and "sndslab events" in nolake.output
    )
    meds = runner.invoke(app, ["export", "meds", lake, "--out", str(tmp_path / "m")])
    assert meds.exit_code == 0, meds.output
    assert (tmp_path / "m" / "metadata" / "codes.parquet").is_file()


def test_every_category_has_a_table() -> None:
    assert set(CATEGORY_TABLE) == set(Category)
    assert set(CATEGORY_TABLE.values()) == set(EVENT_TABLES)


def test_events_of_unexported_persons_are_counted(
    events_result: EventsResult, tmp_path: Path
) -> None:
    """A new events generation of a copy of the lake whose patients lose one person and the
    birth date of another: their events are counted as not exported, with the reason."""
    lake = tmp_path / "lake"
    shutil.copytree(events_result.lake, lake)
    opened = sndslab.open_lake(lake)
    con, paths = opened.con, opened.paths
    events = relation(con, paths, "events.events")
    patients = relation(con, paths, "events.patients")
    (gone, n_gone), (unborn, n_unborn) = con.fetchall(
        f"SELECT person_id, count(*) FROM {events} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2"
    )
    with write_generation(paths, "events", con, validate=False) as w:
        w.carry("events")
        w.carry("codes")
        w.write(
            "patients",
            f"""SELECT * REPLACE (CASE WHEN person_id = '{unborn}' THEN NULL
                ELSE birth_date END AS birth_date) FROM {patients}
            WHERE person_id <> '{gone}'""",
        )
    opened.close()
    result = to_omop(lake, tmp_path / "omop", salt="t")  # validated before it appears
    assert result.not_exported == {
        "person_not_in_patients": n_gone,
        "person_without_birth_year": n_unborn,
    }
    assert result.persons_not_exported["no_year_of_birth"] == 1
    assert result.rows["person"] == events_result.patients - 2
    exported = sum(result.rows[t] for t in EVENT_TABLES)
    assert exported + n_gone + n_unborn == events_result.events
