# ruff: noqa: E501  (SQL assertions read better on one line)
"""Extractor specs: load-time errors name the file and field; a user spec adds a concept."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sndslab.events import EventsResult, ExtractorSpecError, extract_events, load_extractors
from sndslab.lake import LakePaths, current_commit, publish

GOOD = """
name: femur_fracture
description: Hospitalised femur fractures (DP S72*), a user concept added without Python.
category: diagnosis
source: mco_diagnoses
joins:
  - {table: mco_stays, alias: st, how: inner, condition: "st.ETA_NUM = s.ETA_NUM AND st.RSA_NUM = s.RSA_NUM AND st._year = s._year"}
code: {vocabulary: ICD10, value: s.code}
start: {expr: st.entry_date}
modifier: s.role
filter:
  codes: [S72]
  where: "s.role = 'DP'"
source_key: [s.ETA_NUM, s.RSA_NUM, s._year]
"""


def _lake_without_events(lake: Path, src: Path) -> Path:
    """A copy of ``src``'s marker, staging and int layer, published without events."""
    lake.mkdir()
    for name in ("_lake.json", "_state", "stg", "quarantine", "int"):
        if (src / name).is_dir():
            shutil.copytree(src / name, lake / name)
        elif (src / name).exists():
            shutil.copy2(src / name, lake / name)
    commit = current_commit(LakePaths(str(src)))
    assert commit is not None
    publish(
        LakePaths(str(lake)),
        command="test",
        base=commit.model_copy(update={"layers": {"int": commit.layers["int"]}, "report": None}),
    )
    return lake


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    d = tmp_path / "specs"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    return d


def test_builtin_specs_load(events_lake: Path) -> None:
    specs = load_extractors(events_lake)
    assert len(specs) >= 20
    assert len({s.name for s in specs}) == len(specs)


def test_user_spec_adds_a_concept(
    tmp_path: Path, events_lake: Path, events_result: EventsResult, views: Callable[..., Any]
) -> None:
    d = _write(tmp_path, GOOD)
    specs = load_extractors(events_lake, extra_dirs=[d], builtin=False)
    lake = _lake_without_events(tmp_path / "lake", events_lake)
    res = extract_events(lake, extractors=specs)
    run = res.run("femur_fracture")
    ((dp_s72,),) = (
        views(events_result.lake, {"ev": "events.events"})
        .execute(
            "SELECT count(*) FROM ev WHERE modifier = 'DP' AND starts_with(code, 'ICD10//S72') "
            "AND source_table = 'mco_diagnoses'"
        )
        .fetchall()
    )
    assert run.emitted == dp_s72 > 0
    ((mine,),) = views(lake, {"ev": "events.events"}).execute("SELECT count(*) FROM ev").fetchall()
    assert mine == run.emitted


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("source: mco_diagnoses", "source: mco_nope", "source"),
        ("value: s.code}", "value: s.no_such_column}", "code.value"),
        ("vocabulary: ICD10", "vocabulary: ICD11", "code.vocabulary"),
        ("codes: [S72]", "codes: [S72, ZZZ9]", "filter.codes"),
        ("category: diagnosis", "category: gossip", "category"),
        ("start: {expr: st.entry_date}", "start: {expr: st.entry_dat}", "start.expr"),
        ("where: \"s.role = 'DP'\"", "where: \"s.rolex = 'DP'\"", "filter.where"),
    ],
)
def test_bad_spec_errors(tmp_path: Path, events_lake: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD
    d = _write(tmp_path, GOOD.replace(old, new), "bad.yaml")
    with pytest.raises(ExtractorSpecError) as exc:
        load_extractors(events_lake, extra_dirs=[d], builtin=False)
    msg = str(exc.value)
    assert "bad.yaml" in msg and f"field {field!r}" in msg, msg


def test_bad_yaml_and_duplicates(tmp_path: Path) -> None:
    d = _write(tmp_path, "name: [unclosed", "broken.yaml")
    with pytest.raises(ExtractorSpecError, match=r"broken\.yaml"):
        load_extractors(extra_dirs=[d], builtin=False)
    d2 = tmp_path / "dup"
    d2.mkdir()
    (d2 / "a.yaml").write_text(GOOD)
    (d2 / "b.yaml").write_text(GOOD)
    with pytest.raises(ExtractorSpecError, match="duplicate extractor name"):
        load_extractors(extra_dirs=[d2], builtin=False)


def test_failing_extractor_stops_the_run_with_its_name(tmp_path: Path, events_lake: Path) -> None:
    from sndslab.events import ExtractorFailedError

    bad = GOOD.replace("where: \"s.role = 'DP'\"", 'where: "CAST(s.role AS INTEGER) = 1"')
    d = _write(tmp_path, bad, "runtime.yaml")
    specs = load_extractors(events_lake, extra_dirs=[d], builtin=False)
    lake = _lake_without_events(tmp_path / "lake", events_lake)
    with pytest.raises(ExtractorFailedError, match="femur_fracture"):
        extract_events(lake, extractors=specs)
    assert not (lake / "events").exists()


def test_specs_read_int_tables_only() -> None:
    """Every built-in extractor reads ``int`` tables by name (no ``clean/`` or ``stg/``
    source), and a staged-table name is refused at load time."""
    specs = load_extractors()
    for spec in specs:
        for table in (spec.source, *(j.table for j in spec.joins)):
            assert "/" not in table and table == table.lower(), (spec.name, table)
    assert {"ref_ir_pha_r", "ref_ir_nat_v"} <= {j.table for s in specs for j in s.joins}


@pytest.mark.parametrize("source", ["clean/KI_ECD_R", "stg/IR_PHA_R", "KI_ECD_R", "int.persons"])
def test_staged_sources_are_refused(tmp_path: Path, source: str) -> None:
    d = _write(tmp_path, GOOD.replace("source: mco_diagnoses", f"source: {source}"), "stg.yaml")
    with pytest.raises(ExtractorSpecError, match=r"stg\.yaml.*field 'source'"):
        load_extractors(extra_dirs=[d], builtin=False)


def test_spec_validation_runs_on_the_given_connection(events_lake: Path, tmp_path: Path) -> None:
    """Binding uses the connection passed in (here a DuckDB engine's), not a private one."""
    from sndslab.engines import get_engine

    con = get_engine("duckdb").connect()
    d = _write(tmp_path, GOOD.replace("value: s.code}", "value: s.no_such_column}"), "c.yaml")
    with pytest.raises(ExtractorSpecError, match=r"code\.value"):
        load_extractors(events_lake, extra_dirs=[d], builtin=False, con=con)
    assert con.scalar("SELECT 42") == 42  # still open: the caller owns it
    con.close()


def test_compile_sql_reads_tables_through_the_resolver() -> None:
    """No lake needed: the compiled SELECT reads exactly the relations the resolver gives for
    ``int.<source>`` and ``int.<join>``, and its sources are the spec's tables."""
    from sndslab.events._spec import compile_sql, ref_table, tables_of

    (spec,) = load_extractors(names=["drug_dispensation"])
    assert tables_of(spec) == ("int.dcir_pharmacy", ref_table("IR_PHA_R"))
    asked: list[str] = []

    def resolve(name: str) -> str:
        asked.append(name)
        return "rel_" + name.replace(".", "_")

    sql = compile_sql(spec, resolve)
    assert asked == ["int.dcir_pharmacy", "int.ref_ir_pha_r"]
    assert "FROM rel_int_dcir_pharmacy s" in sql
    assert "LEFT JOIN rel_int_ref_ir_pha_r r ON r.PHA_CIP_C13 = s.cip13" in sql
    assert "read_parquet" not in sql and "stg/" not in sql and "clean/" not in sql
