"""One implementation, two engines: ``ingest(..., engine="spark")`` must write exactly what the
DuckDB engine writes (stg/, quarantine/, int/ clean tables, flags, persons, person_keys and the
int/ tables), with the same rule counts.

Every step runs on the engine under test: staging too (stg/ and quarantine/ part directories are
written by Spark's own reader and writer, :mod:`sndslab.ingest._stage_spark`, with the same file
accounts), then the rules, identity and intermediate steps through
:class:`sndslab.engines.SparkConnection`, which transpiles the same DuckDB SQL with sqlglot.
``test_int_layer_is_the_same_on_both_engines`` builds the int generation on each engine from
copies of one DuckDB-staged lake, so it tests the int layer alone. Staging's own parity cases
(bad input, typing corner cases) are in ``test_stage_spark.py``. The shim unit tests below need
neither Spark nor Java.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sndslab.engines import (
    quote_path,
    spark_available,
)
from sndslab.engines._spark import java_available
from sndslab.engines._sql import dedup_names, to_spark_sql
from sndslab.lake import open_lake

ENGINES = ("duckdb", "spark")
SPARK_SKIP = (
    "pyspark is not installed"
    if not spark_available()
    else ("java is not available" if not java_available() else None)
)


# ---- dialect shims (pure sqlglot) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("duck", "spark"),
    [
        ("SELECT d + INTERVAL (6) MONTH AS x FROM t", "SELECT d + INTERVAL 6 MONTH AS x FROM t"),
        (
            "SELECT *, row_number() OVER () AS _lk FROM t",
            "SELECT *, MONOTONICALLY_INCREASING_ID() AS _lk FROM t",
        ),
        (
            "SELECT k, string_agg(c, ',' ORDER BY c) AS s FROM t GROUP BY ALL",
            "SELECT k, NULLIF(ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST(c)), ','), '') AS s "
            "FROM t GROUP BY ALL",
        ),
        (
            "SELECT any_value(p) FILTER (WHERE f) AS a FROM t",
            "SELECT ANY_VALUE(p, TRUE) FILTER(WHERE f) AS a FROM t",
        ),
        ("SELECT t.* EXCLUDE (a) FROM t", "SELECT t.* EXCEPT (a) FROM t"),
        ("SELECT NULL::INTEGER AS x", "SELECT CAST(NULL AS INT) AS x"),
    ],
)
def test_shims_transpile(duck: str, spark: str) -> None:
    assert to_spark_sql(duck) == spark


def test_row_number_with_order_is_kept() -> None:
    out = to_spark_sql("SELECT row_number() OVER (ORDER BY a) AS k FROM t")
    assert "ROW_NUMBER() OVER (ORDER BY a NULLS LAST)" in out


def test_star_replace_is_expanded_with_the_relation_columns() -> None:
    sql = "SELECT * REPLACE (NULL AS b) FROM (SELECT 1 AS a, 2 AS b, 3 AS c)"
    out = to_spark_sql(sql, columns_of=lambda _q: ["a", "b", "c"])
    assert out == "SELECT `a`, NULL AS b, `c` FROM (SELECT 1 AS a, 2 AS b, 3 AS c)"
    with pytest.raises(NotImplementedError):
        to_spark_sql(sql)


def test_dedup_names_like_duckdb() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE x AS SELECT 1 AS a, 2 AS B, 3 AS b, 4 AS A")
    duck = [r[0] for r in con.execute("DESCRIBE x").fetchall()]
    assert dedup_names(["a", "B", "b", "A"]) == duck


# ---- the Spark engine ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark_engine() -> Any:
    """One local Spark engine for the test session (``local[2]``, 2 GB driver), session up."""
    if SPARK_SKIP:
        pytest.fail(f'{SPARK_SKIP}: the Spark tests need it (deselect: -m "not spark")')
    from sndslab.engines import SparkEngine

    engine = SparkEngine(threads=2, memory_limit="2g")
    engine.session()
    return engine


@pytest.mark.spark
def test_string_agg_shim_matches_duckdb(spark_engine: Any) -> None:
    data = "SELECT * FROM (VALUES (1, 'b'), (1, 'a'), (1, NULL), (2, NULL), (3, 'c')) v(k, c)"
    q = "SELECT k, string_agg(c, ',' ORDER BY c) AS s FROM t GROUP BY ALL ORDER BY k"
    duck = duckdb.connect()
    duck.execute(f"CREATE TEMP TABLE t AS {data}")
    spark = spark_engine.connect()
    try:
        spark.create_table("t", data)
        assert spark.fetchall(q) == duck.execute(q).fetchall()
    finally:
        spark.close()


@pytest.fixture(scope="module")
def staged(spark_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{engine: (lake, StageResult)}``: one small synthetic extract (800 persons, 2019, with
    bad rows appended) staged by each engine."""
    from sndslab.ingest import stage
    from sndslab.synth import SynthConfig, generate

    base = tmp_path_factory.mktemp("parity")
    generate(
        SynthConfig(patients=800, first_year=2019, last_year=2019, seed=3, chunk_size=800),
        base / "synth",
    )
    _add_bad_rows(base / "synth" / "raw" / "ER_PHA_F_2019.csv")
    engines = {"duckdb": "duckdb", "spark": spark_engine}
    return {
        e: (base / e, stage(base / "synth" / "raw", base / e, engine=engines[e])) for e in ENGINES
    }


@pytest.fixture(scope="module")
def lakes(staged: dict[str, Any], spark_engine: Any) -> dict[str, Any]:
    """``{engine: (lake, IngestResult)}``: the whole ingest on each engine, over the staged
    lakes (staging is incremental: the files are reused)."""
    from sndslab.ingest._pipeline import ingest

    engines = {"duckdb": "duckdb", "spark": spark_engine}
    raw = staged["duckdb"][0].parent / "synth" / "raw"
    return {e: (staged[e][0], ingest(raw, staged[e][0], engine=engines[e])) for e in ENGINES}


def _add_bad_rows(path: Path) -> None:
    """Append an orphan satellite row (no prestation on the 9 keys: quarantined by the rules
    step, i.e. on the engine under test), a type error and a malformed line (staging)."""
    lines = path.read_text("latin-1").splitlines()
    header = lines[0].split(";")
    orphan = lines[1].split(";")
    orphan[header.index("PRS_ORD_NUM")] = "999"
    typo = lines[1].split(";")
    typo[header.index("PHA_ACT_QSN")] = "abc"
    extra = [";".join(orphan), ";".join(typo), "not;enough"]
    path.write_text("\n".join([*lines, *extra]) + "\n", "latin-1")


def _accounts(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.to_dict().items() if k != "seconds"} for a in result.accounts]


def _dataset(path: Path) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """(column names and Arrow types of its Parquet files, rows in the order of its parts) of
    one dataset directory, read with DuckDB."""
    import pyarrow.parquet as pq

    files = sorted(path.glob("*.parquet"))
    assert files, path
    glob = quote_path(str(path / "*.parquet"))
    with duckdb.connect() as con:
        rows = con.sql(f"SELECT * FROM read_parquet({glob}, hive_partitioning = false)")
        return [
            (f.name, f.type) for f in pq.read_schema(files[0])
        ], rows.to_arrow_table().to_pylist()


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_same_staging_on_both_engines(staged: dict[str, Any]) -> None:
    """Same accounts, and part directory by part directory the same columns, types and rows
    in the same (file) order; each engine wrote its parts with its own writer; ``stg.<TABLE>``
    reads the same rows through :func:`sndslab.lake.relation` on either engine."""
    import pyarrow.parquet as pq

    from sndslab.engines import get_engine
    from sndslab.lake import LakePaths, relation

    (duck_lake, duck), (spark_lake, spark) = staged["duckdb"], staged["spark"]
    assert _accounts(spark) == _accounts(duck)
    assert spark.totals == duck.totals
    assert duck.totals["quarantined"].get("malformed_line", 0) >= 1  # "not;enough"
    assert duck.totals["quarantined"].get("type_error", 0) >= 1  # "abc"
    parts = [p for a in duck.accounts for p in a.parts]
    assert any(p.startswith("quarantine/ER_PHA_F/") for p in parts)
    assert len(parts) > 20
    for rel in parts:
        assert _dataset(spark_lake / rel) == _dataset(duck_lake / rel), rel
    stg = next(p for p in parts if p.startswith("stg/"))
    (duck_file,) = (duck_lake / stg).glob("*.parquet")
    spark_file = next((spark_lake / stg).glob("*.parquet"))
    assert "parquet-mr" in str(pq.ParquetFile(spark_file).metadata.created_by)
    assert "DuckDB" in str(pq.ParquetFile(duck_file).metadata.created_by)
    per_year: dict[int | None, int] = {}
    for a in duck.accounts:
        if a.table == "ER_PHA_F":
            per_year[a.year] = per_year.get(a.year, 0) + a.staged
    for lake in (duck_lake, spark_lake):
        con = get_engine("duckdb").connect()
        try:
            rel = relation(con, LakePaths(str(lake), con.storage), "stg.ER_PHA_F")
            cols = [c for c, _ in con.describe(f"SELECT * FROM {rel}")]
            assert cols[-3:] == ["_source_file", "_source_line", "_year"]
            got = con.fetchall(f"SELECT _year, count(*) FROM {rel} GROUP BY ALL ORDER BY 1")
            assert dict(got) == per_year
        finally:
            con.close()


def _datasets(lake: Path) -> list[str]:
    """Dataset directories of stg/ and quarantine/ (relative paths), then every table of the
    int generation, internal ones included (``int.<name>``)."""
    from sndslab.lake import LakePaths, known_tables

    dirs = sorted(
        {
            p.parent.relative_to(lake).as_posix()
            for layer in ("stg", "quarantine")
            for p in (lake / layer).rglob("*.parquet")
            if not any(part.startswith(".") for part in p.relative_to(lake).parts)
        }
    )
    paths = LakePaths(str(lake))
    return dirs + [n for n in known_tables(paths, internal=True) if n.startswith("int.")]


def _sorted_table(lake: Path, name: str) -> Any:
    """A dataset's rows (``name``: a directory relative to the lake, or ``int.<table>``),
    sorted on every column (row order is not part of the contract), read with DuckDB."""
    from sndslab.lake import open_lake

    with open_lake(lake) as lk:
        if name.startswith("int."):
            table = lk.table(name).to_arrow()
        else:
            table = lk.con.sql(f"SELECT * FROM {lk.con.dataset(str(lake / name))}").to_arrow()
    if not table.num_rows:
        return table
    return table.sort_by([(c, "ascending") for c in table.column_names])


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
@pytest.mark.parametrize("engine", ENGINES)
def test_ingest_adds_up_on_each_engine(lakes: dict[str, Any], engine: str) -> None:
    lake, result = lakes[engine]
    result.rules.check()
    rep = open_lake(lake).report
    assert rep["tables"] and all(t["adds_up"] for t in rep["tables"].values())
    assert result.identity.persons > 0
    assert result.intermediate.get("dcir_prestations", 0) > 0


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_same_counts_on_both_engines(lakes: dict[str, Any]) -> None:
    duck, spark = lakes["duckdb"][1], lakes["spark"][1]
    assert spark.rules == duck.rules
    assert spark.identity == duck.identity
    # the appended orphan row, plus the orphan satellite rows the generator injected
    manifest = lakes["duckdb"][0].parent / "synth" / "truth" / "manifest.json"
    injected = json.loads(manifest.read_text())["counts"]["dcir.orphan_satellite_rows.ER_PHA_F"]
    assert spark.rules.orphans.get("ER_PHA_F") == 1 + injected
    assert spark.intermediate == duck.intermediate
    assert spark.join_loss == pytest.approx(duck.join_loss)
    assert spark.stage.totals == duck.stage.totals
    assert _accounts(spark.stage) == _accounts(duck.stage)
    assert spark.stage.totals["quarantined"].get("malformed_line", 0) >= 1  # "not;enough"


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_same_output_files_and_rows(lakes: dict[str, Any]) -> None:
    duck, spark = lakes["duckdb"][0], lakes["spark"][0]
    files = _datasets(duck)
    assert files == _datasets(spark)
    # every layer is there: stg, quarantine, clean/flags, identity, int tables
    for expected in (
        "stg/",
        "int.orphans__ER_PHA_F",
        "int.clean__",
        "int.flags__",
        "int.persons",
    ):
        assert any(f.startswith(expected) for f in files), expected
    assert len(files) > 40
    # staged by each engine's own writer (Spark: parquet-mr), not by DuckDB for both
    import pyarrow.parquet as pq

    stg = next(f for f in files if f.startswith("stg/"))
    spark_part = next((spark / stg).glob("*.parquet"))
    assert "parquet-mr" in str(pq.ParquetFile(spark_part).metadata.created_by)
    assert "DuckDB" in str(pq.ParquetFile(next((duck / stg).glob("*.parquet"))).metadata.created_by)
    different = []
    for rel in files:
        d, s = _sorted_table(duck, rel), _sorted_table(spark, rel)
        # names and types must match; Parquet nullability may not (DuckDB marks some columns
        # REQUIRED, Spark writes every column OPTIONAL), so rows are compared as Python values
        same_types = [(f.name, f.type) for f in d.schema] == [(f.name, f.type) for f in s.schema]
        if not same_types or d.to_pylist() != s.to_pylist():
            different.append((rel, d.num_rows, s.num_rows, same_types))
    assert not different, different


@pytest.fixture(scope="module")
def int_lakes(
    staged: dict[str, Any],
    spark_engine: Any,
    tmp_path_factory: pytest.TempPathFactory,
    staged_copy: Any,
) -> dict[str, tuple[Path, Any]]:
    """``{engine: (lake, IntResult)}``: the int generation built on each engine from copies of
    the DuckDB-staged lake (the int layer alone, whatever engine staged)."""

    from sndslab.engines import get_engine
    from sndslab.ingest import build_int
    from sndslab.lake import LakePaths

    base = tmp_path_factory.mktemp("int-parity")
    engines = {"duckdb": get_engine("duckdb"), "spark": spark_engine}
    out: dict[str, tuple[Path, Any]] = {}
    for engine in ENGINES:
        lake = staged_copy(staged["duckdb"][0], base / engine)
        con = engines[engine].connect()
        try:
            out[engine] = (lake, build_int(con, LakePaths(str(lake), con.storage)))
        finally:
            con.close()
    return out


@pytest.mark.slow  # the full-extract parity of the engines: make test-slow (CI)
@pytest.mark.spark
def test_int_layer_is_the_same_on_both_engines(int_lakes: dict[str, tuple[Path, Any]]) -> None:
    """Same counts, the same int tables (internal ones included) with the same rows and types,
    and the same orphan quarantine, from the same staged lake."""
    (duck, d_res), (spark, s_res) = int_lakes["duckdb"], int_lakes["spark"]
    assert s_res.rules == d_res.rules
    assert s_res.identity == d_res.identity
    assert s_res.intermediate == d_res.intermediate
    assert s_res.join_loss == pytest.approx(d_res.join_loss)

    def names(lake: Path) -> list[str]:
        return [n for n in _datasets(lake) if n.startswith("int.")]

    assert names(duck) == names(spark)
    assert "int.ssr_diagnoses" in names(duck) and "int.death_causes" in names(duck)
    different = []
    for name in names(duck):
        d, s = _sorted_table(duck, name), _sorted_table(spark, name)
        same_types = [(f.name, f.type) for f in d.schema] == [(f.name, f.type) for f in s.schema]
        if not same_types or d.to_pylist() != s.to_pylist():
            different.append((name, d.num_rows, s.num_rows, same_types))
    assert not different, different
