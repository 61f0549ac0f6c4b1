"""One implementation, two engines: ``extract_events(..., engine="spark")`` writes exactly the
tables the DuckDB engine writes (events, patients, codes, manifest counts): same names, Arrow
types and rows (after a deterministic sort), same per-extractor accounting; the exports (MEDS,
OMOP) of both engines hold the same rows.

Spark runs the event SQL through :class:`sndslab.engines.SparkConnection` (DuckDB SQL
transpiled with sqlglot). The events need no shim of their own: the pure sqlglot
tests below pin the translations they rely on (so a sqlglot upgrade that breaks one fails
here, without Spark). One Spark extraction of the session lake is shared by the parity tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.engines import java_available, spark_available, to_spark_sql
from sndslab.events import EventsResult, extract_events, to_meds, to_omop
from sndslab.events._omop_cdm import CDM_TABLES

SPARK_SKIP = (
    "pyspark is not installed"
    if not spark_available()
    else ("java is not available" if not java_available() else None)
)
KEY = ["person_id", "start", "code", "source_key"]


# ---- translations the event SQL relies on (pure sqlglot) -----------------------------------


@pytest.mark.parametrize(
    ("duck", "spark"),
    [
        # codes: ATC parents and ICD-10 parents (DuckDB lambdas → Spark higher-order functions)
        (
            "SELECT list_filter(list_transform([1, 3], lambda n: left(c, n)), "
            "lambda x: x IS NOT NULL) FROM t",
            "SELECT FILTER(TRANSFORM(ARRAY(1, 3), n -> LEFT(c, n)), x -> NOT x IS NULL) FROM t",
        ),
        ("SELECT CAST([] AS VARCHAR[]) AS p", "SELECT CAST(ARRAY() AS ARRAY<STRING>) AS p"),
        # DuckDB concat() skips NULLs, Spark's returns NULL: sqlglot adds the coalesce
        (
            "SELECT concat('A=', a, ';B=', b)",
            "SELECT CONCAT('A=', COALESCE(a, ''), ';B=', COALESCE(b, ''))",
        ),
        # extractor accounting and dates
        (
            "SELECT count(*) FILTER (WHERE x.start IS NULL) FROM t x",
            "SELECT COUNT(*) FILTER(WHERE x.start IS NULL) FROM t AS x",
        ),
        (
            "SELECT s.entry_date + CAST(s.d AS INTEGER) FROM t s",
            "SELECT s.entry_date + CAST(s.d AS INT) FROM t AS s",
        ),
        ("SELECT starts_with(c, 'ATU')", "SELECT STARTSWITH(c, 'ATU')"),
        # part files: NULLs sort last on both engines
        (
            "SELECT * FROM events ORDER BY person_id, source_key",
            "SELECT * FROM events ORDER BY person_id NULLS LAST, source_key NULLS LAST",
        ),
        ("SELECT p, min(d) FROM t GROUP BY ALL", "SELECT p, MIN(d) FROM t GROUP BY ALL"),
    ],
)
def test_event_sql_transpiles(duck: str, spark: str) -> None:
    assert to_spark_sql(duck) == spark


def test_cli_rejects_an_unknown_engine(tmp_path: Path) -> None:
    (tmp_path / "int").mkdir()
    result = CliRunner().invoke(app, ["events", str(tmp_path), "--engine", "oracle"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --engine must be duckdb or spark, got 'oracle'"


# ---- the Spark engine ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(
    ingested_synth: tuple[Path, Path],
    events_result: EventsResult,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, EventsResult]:
    """``{engine: result}`` of one extraction per engine of copies of the session lake."""
    if SPARK_SKIP:
        pytest.fail(f"{SPARK_SKIP}: the Spark tests need it (deselect: -m \"not spark\")")
    from sndslab.engines import SparkEngine

    base = tmp_path_factory.mktemp("events-parity")
    out: dict[str, EventsResult] = {}
    engines: dict[str, Any] = {
        "duckdb": "duckdb",
        "spark": SparkEngine(threads=2, memory_limit="2g"),
    }
    for name, engine in engines.items():
        lake = base / name
        shutil.copytree(ingested_synth[1], lake, ignore=shutil.ignore_patterns("events"))
        out[name] = extract_events(lake, engine=engine)
    return out


def _sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows sorted on every non-list column (ties in the files' own order are not a contract)."""
    keys = [(c, "ascending") for c in table.column_names if not pa.types.is_list(table[c].type)]
    return table.sort_by(keys).to_pylist() if table.num_rows else []


def _tables(result: EventsResult) -> dict[str, pa.Table]:
    with sndslab.open_lake(result.lake) as lake:
        return {name: lake.table(name).to_arrow() for name in lake.tables("events")}


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_same_accounting(runs: dict[str, EventsResult]) -> None:
    duck, spark = runs["duckdb"], runs["spark"]
    assert spark.runs == duck.runs
    assert (spark.events, spark.patients, spark.codes) == (duck.events, duck.patients, duck.codes)
    counts = []
    for r in (duck, spark):
        with sndslab.open_lake(r.lake) as lake:
            counts.append(lake.manifest("events").counts)
    assert counts[0] == counts[1]


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_same_files_types_and_rows(runs: dict[str, EventsResult]) -> None:
    duck, spark = _tables(runs["duckdb"]), _tables(runs["spark"])
    assert sorted(duck) == sorted(spark) == ["events.codes", "events.events", "events.patients"]
    different = []
    for name in sorted(duck):
        d, s = duck[name], spark[name]
        # names and Arrow types must match; Parquet nullability is not compared (Spark
        # writes every column OPTIONAL)
        same_types = [(f.name, f.type) for f in d.schema] == [(f.name, f.type) for f in s.schema]
        if not same_types or _sorted_rows(d) != _sorted_rows(s):
            different.append((name, d.num_rows, s.num_rows, same_types))
    assert not different, different


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_parts_hold_contiguous_persons_sorted(runs: dict[str, EventsResult], engine: str) -> None:
    """Parts read in name order give the rows sorted (the engine writer's contract)."""
    result = runs[engine]
    previous: dict[str, Any] | None = None
    parts = sorted(Path(result.events_dir).glob("part-*.parquet"))
    assert parts
    for part in parts:
        t = pq.read_table(part, columns=KEY)
        if not t.num_rows:
            continue
        assert t.to_pylist() == t.sort_by([(c, "ascending") for c in KEY]).to_pylist(), part
        first = t.slice(0, 1).to_pylist()[0]
        if previous is not None:  # parts are ranges of the sort key
            assert (first["person_id"], first["start"]) >= (
                previous["person_id"],
                previous["start"],
            ), part
        previous = t.slice(t.num_rows - 1, 1).to_pylist()[0]


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_split_does_not_change_the_events(
    runs: dict[str, EventsResult], events_result: EventsResult
) -> None:
    """The Spark parts hold exactly the rows of the DuckDB (single part) extraction."""
    whole = pq.read_table(events_result.events_dir)
    split = pq.read_table(runs["spark"].events_dir)
    assert len(list(Path(events_result.events_dir).glob("part-*.parquet"))) == 1
    assert _sorted_rows(split) == _sorted_rows(whole)


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_exports_same_rows_on_both_engines(runs: dict[str, EventsResult], tmp_path: Path) -> None:
    """MEDS data and OMOP tables written by Spark hold the rows DuckDB writes (same salt)."""
    from sndslab.engines import SparkEngine

    engines: dict[str, Any] = {"duckdb": "duckdb", "spark": SparkEngine(threads=2)}
    for name, engine in engines.items():
        to_meds(runs[name].lake, tmp_path / name / "meds", salt="s", engine=engine)
        to_omop(runs[name].lake, tmp_path / name / "omop", salt="s", engine=engine)
    datasets = ["meds/data", *(f"omop/{t}" for t in CDM_TABLES)]
    for rel in datasets:
        d = pq.read_table(tmp_path / "duckdb" / rel)
        s = pq.read_table(tmp_path / "spark" / rel)
        assert _sorted_rows(d) == _sorted_rows(s), rel
    for meta in ("codes.parquet", "subject_splits.parquet"):
        d = pq.read_table(tmp_path / "duckdb" / "meds" / "metadata" / meta)
        s = pq.read_table(tmp_path / "spark" / "meds" / "metadata" / meta)
        assert d.schema.types == s.schema.types and d.to_pylist() == s.to_pylist(), meta
