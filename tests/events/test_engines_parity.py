"""One implementation, two engines: ``extract_events(..., engine="spark")`` writes exactly the
files the DuckDB engine writes (events parts, patients, codes, manifest): same names, Arrow
types and rows (after a deterministic sort), same per-extractor accounting.

Spark runs the event SQL through :class:`sndslab.ingest._spark_sql.SparkSqlConnection`
(DuckDB SQL transpiled with sqlglot). The events need no shim of their own: the pure sqlglot
tests below pin the translations they rely on (so a sqlglot upgrade that breaks one fails
here, without Spark). One Spark extraction of the session lake is shared by the parity tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sndslab.cli import app
from sndslab.engines import spark_available
from sndslab.engines._spark import java_available
from sndslab.events import EventsResult, extract_events

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot (extra [spark]) is not installed")

from sndslab.ingest._spark_sql import to_spark_sql  # noqa: E402 - after the importorskip

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
    """``{engine: result}`` of one extraction per engine of copies of the session lake, split
    in about three part files (so the person → part assignment is compared too)."""
    if SPARK_SKIP:
        pytest.skip(SPARK_SKIP)
    from sndslab.engines import SparkEngine

    rows_per_part = max(1, events_result.events // 3 + 1)
    base = tmp_path_factory.mktemp("events-parity")
    out: dict[str, EventsResult] = {}
    engines: dict[str, Any] = {
        "duckdb": "duckdb",
        "spark": SparkEngine(threads=2, memory_limit="2g"),
    }
    for name, engine in engines.items():
        lake = base / name
        shutil.copytree(ingested_synth[1], lake, ignore=shutil.ignore_patterns("events"))
        out[name] = extract_events(lake, engine=engine, rows_per_part=rows_per_part)
    return out


def _files(result: EventsResult) -> list[str]:
    root = result.lake / "events"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows sorted on every non-list column (ties in the files' own order are not a contract)."""
    keys = [(c, "ascending") for c in table.column_names if not pa.types.is_list(table[c].type)]
    return table.sort_by(keys).to_pylist() if table.num_rows else []


@pytest.mark.spark
def test_same_accounting(runs: dict[str, EventsResult]) -> None:
    duck, spark = runs["duckdb"], runs["spark"]
    assert spark.runs == duck.runs
    assert (spark.events, spark.patients, spark.codes) == (duck.events, duck.patients, duck.codes)
    manifests = [(r.lake / "events" / "manifest.json").read_text() for r in (duck, spark)]
    assert json.loads(manifests[0]) == json.loads(manifests[1])


@pytest.mark.spark
def test_same_files_types_and_rows(runs: dict[str, EventsResult]) -> None:
    duck, spark = runs["duckdb"], runs["spark"]
    files = _files(duck)
    assert files == _files(spark)
    parts = [f for f in files if f.startswith("events/part-")]
    assert len(parts) >= 2 and "patients.parquet" in files and "codes.parquet" in files
    different = []
    for rel in (f for f in files if f.endswith(".parquet")):
        d = pq.read_table(duck.lake / "events" / rel)
        s = pq.read_table(spark.lake / "events" / rel)
        # names and Arrow types must match; Parquet nullability is not compared (Spark
        # writes every column OPTIONAL)
        same_types = [(f.name, f.type) for f in d.schema] == [(f.name, f.type) for f in s.schema]
        if not same_types or _sorted_rows(d) != _sorted_rows(s):
            different.append((rel, d.num_rows, s.num_rows, same_types))
    assert not different, different


@pytest.mark.spark
@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_parts_hold_contiguous_persons_sorted(runs: dict[str, EventsResult], engine: str) -> None:
    result = runs[engine]
    previous_last: str | None = None
    for part in sorted(result.events_dir.glob("part-*.parquet")):
        t = pq.read_table(part, columns=KEY)
        assert t.num_rows
        assert t.to_pylist() == t.sort_by([(c, "ascending") for c in KEY]).to_pylist(), part
        persons = t["person_id"].to_pylist()
        if previous_last is not None:  # a person lives in one part; parts are person ranges
            assert persons[0] > previous_last, part
        previous_last = persons[-1]


@pytest.mark.spark
def test_split_does_not_change_the_events(
    runs: dict[str, EventsResult], events_result: EventsResult
) -> None:
    """The split parts hold exactly the rows of the default (single part) extraction."""
    whole = pq.read_table(events_result.events_dir)
    split = pq.read_table(runs["spark"].events_dir)
    assert len(list(events_result.events_dir.glob("part-*.parquet"))) == 1
    assert _sorted_rows(split) == _sorted_rows(whole)
