"""Staging on Spark (``sndslab.ingest._stage_spark``) writes what DuckDB staging writes: the same
stg/ and quarantine/ part directories (rows in the same order, values, Arrow types,
``_source_line``, ``_year``) and the same accounts.

The shim tests need neither Spark nor Java; the others skip without them and share one local
Spark session (``local[2]``) with the other Spark tests.
"""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import math
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sndslab.engines import quote_path, spark_available
from sndslab.engines._spark import java_available
from sndslab.engines._sql import strptime_pattern, to_spark_sql

SPARK_SKIP = (
    "pyspark is not installed"
    if not spark_available()
    else ("java is not available" if not java_available() else None)
)


def _load_bad_input() -> Any:
    """The builders of ``test_stage_bad_input.py`` (test modules are not a package here)."""
    path = Path(__file__).with_name("test_stage_bad_input.py")
    spec = importlib.util.spec_from_file_location("_bad_input_builders", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bad = _load_bad_input()


# ---- dialect shims (pure sqlglot) ------------------------------------------------------------


def test_try_strptime_becomes_width_checked_to_timestamp() -> None:
    out = to_spark_sql("SELECT try_strptime(x, ['%d/%m/%Y', '%d%b%Y:%H:%M:%S']) AS d")
    assert out == (
        "SELECT COALESCE("
        "CASE WHEN x RLIKE '^[0-9]{1,2}[/][0-9]{1,2}[/][0-9]{1,4}$' "
        "THEN TRY_TO_TIMESTAMP(x, 'd/M/y') END, "
        "CASE WHEN x RLIKE '^[0-9]{1,2}[A-Za-z]{3}[0-9]{1,4}[:][0-9]{1,2}[:][0-9]{1,2}"
        "[:][0-9]{1,2}$' THEN TRY_TO_TIMESTAMP(x, 'dMMMy:H:m:s') END) AS d"
    )
    single = to_spark_sql("SELECT try_strptime(x, '%Y-%m-%d')")
    assert single == (
        "SELECT CASE WHEN x RLIKE '^[0-9]{1,4}[-][0-9]{1,2}[-][0-9]{1,2}$' "
        "THEN TRY_TO_TIMESTAMP(x, 'y-M-d') END"
    )


def test_strptime_pattern_quotes_letters_and_refuses_unknown_directives() -> None:
    assert strptime_pattern("%YT%H") == ("^[0-9]{1,4}T[0-9]{1,2}$", "y'T'H")
    assert strptime_pattern("%d.%m") == ("^[0-9]{1,2}[.][0-9]{1,2}$", "d.M")
    with pytest.raises(NotImplementedError, match="%j"):
        strptime_pattern("%j")


def test_try_cast_shims_spell_duckdb_text_grammar() -> None:
    out = to_spark_sql("SELECT TRY_CAST(x AS BIGINT)")
    assert out.startswith("SELECT CASE WHEN x RLIKE '^[ ]*[+-]?[0-9]+(_[0-9]+)*[ ]*$' ")
    assert "TRY_CAST(ROUND(TRY_CAST(REGEXP_REPLACE(x, '_', '') AS DECIMAL(38, 19))) AS BIGINT)" in (
        out
    )
    dbl = to_spark_sql("SELECT TRY_CAST(x AS DOUBLE)")
    assert "CAST('-Infinity' AS DOUBLE)" in dbl and "CAST('NaN' AS DOUBLE)" in dbl
    # other targets, and nested casts, are left to / shimmed inside sqlglot's own translation
    assert to_spark_sql("SELECT TRY_CAST(x AS VARCHAR)") == "SELECT TRY_CAST(x AS STRING)"
    nested = to_spark_sql("SELECT TRY_CAST(TRY_CAST(x AS DOUBLE) AS INTEGER)")
    assert nested.count("'NaN'") >= 1 and "AS INT)" in nested


def test_list_literal_index_is_one_based_on_spark() -> None:
    out = to_spark_sql("SELECT ['a', 'b'][_q] AS r")
    assert out == "SELECT ELEMENT_AT(ARRAY('a', 'b'), _q) AS r"


# ---- Spark ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def spark_engine() -> Any:
    """One local Spark engine and session for the test session (``local[2]``, 2 GB driver;
    ``getOrCreate`` shares it with the other Spark tests)."""
    if SPARK_SKIP:
        pytest.fail(f"{SPARK_SKIP}: the Spark tests need it (deselect: -m \"not spark\")")
    from sndslab.engines import SparkEngine

    engine = SparkEngine(threads=2, memory_limit="2g")
    engine.session()
    return engine


def _stage_both(raw: Path, base: Path, spark_engine: Any) -> dict[str, Any]:
    from sndslab.ingest import stage

    return {
        "duckdb": (base / "duck", stage(raw, base / "duck")),
        "spark": (base / "spark", stage(raw, base / "spark", engine=spark_engine)),
    }


def _account(acc: Any) -> dict[str, Any]:
    data = acc.to_dict()
    data.pop("seconds")
    return data


def _part(path: Path) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """(column names and Arrow types, rows) of one part directory: types from its Parquet
    files, rows read with DuckDB in the order of its parts, which must be file order (sorted by
    source line)."""
    files = sorted(path.glob("*.parquet"))
    assert files, path
    schemas = {tuple((f.name, f.type) for f in pq.read_schema(file)) for file in files}
    assert len(schemas) == 1, schemas
    glob = quote_path(str(path / "*.parquet"))
    with duckdb.connect() as con:
        sql = f"SELECT * FROM read_parquet({glob}, hive_partitioning = false)"
        rows = con.sql(sql).to_arrow_table().to_pylist()
    lines = [r["_source_line"] for r in rows]
    assert lines == sorted(lines), path
    return list(schemas.pop()), rows


def assert_same_staging(results: dict[str, Any]) -> None:
    """Same accounts (but the time taken) and, part by part, same columns, types and rows."""
    (duck_lake, duck), (spark_lake, spark) = results["duckdb"], results["spark"]
    assert [_account(a) for a in spark.accounts] == [_account(a) for a in duck.accounts]
    assert spark.totals == duck.totals
    for acc in duck.accounts:
        for rel in acc.parts:
            assert _part(spark_lake / rel) == _part(duck_lake / rel), rel
    assert not (spark_lake / ".tmp").exists()
    for lake in (duck_lake, spark_lake):  # every part directory is listed by the state
        listed = {p for a in (duck if lake == duck_lake else spark).accounts for p in a.parts}
        found = {
            p.relative_to(lake).as_posix()
            for layer in ("stg", "quarantine")
            for p in (lake / layer).glob("**/*")
            if p.is_dir() and len(p.name) == 16
        }
        assert found == listed


def _good(raw: Path) -> None:
    bad._ben(raw, ["A1;1;1950;1;05/03/2020;075", "A2;2;1980;2;;013"])


def _truncated(raw: Path) -> None:
    bad._ben(raw, ["A1;1;1950;1;;075", "A2;2;1980;2;;013", "A3;1;19"], final_newline=False)


def _wrong_count(raw: Path) -> None:
    lines = [f"A{i};1;1950;1;;075" for i in range(1, 6)]
    lines[2] = "A3;1;1950;1;;075;EXTRA"
    bad._ben(raw, lines)


def _csv_edge_cases(raw: Path) -> None:
    """Blank lines, quoted delimiters and quotes, spaces around quotes, empty trailing fields,
    fields missing or in excess, a quote inside an unquoted value, text after a quote."""
    bad._ben(
        raw,
        [
            'A1;1;1950;1;"05/03/2020";"0;7"',
            "",
            'A2;2;1980;2;;"a""b"',
            "A3;1;1950;1;;075;;",
            "A4;1;1950;1;;075; ",
            "",
            "",
            'A5; "1" ;1950;1;;ab"c',
            'A6;1;"19"50;1;;075',
            "A7;1;1950",
            "A8;1;1950;1;;  075 ",
        ],
    )


def _crlf(raw: Path) -> None:
    body = "\r\n".join([";".join(bad.BEN), "A1;1;1950;1;;075", "A2;1", "", "A3;2;1980;2;;013"])
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "IR_BEN_R.csv").write_bytes((body + "\r\n").encode())


def _nothing_staged(raw: Path) -> None:
    bad._ben(raw, ["A1;1", "A2;x;1950;1;;075", 'A3;"1"x;1950;1;;075'])


def _quoted_line_breaks(raw: Path) -> None:
    """Values with line breaks (as in the CCAM referential): records, not lines."""
    header = ["GEO_DPT_COD", "GEO_REG_COD", "GEO_DPT_LIB", "TEC_COL"]
    rows = ['001;84;"Ain\nsuite";1', "002;32;Aisne;1", '003;84;"All""ier\nx\n;y";1', "004;x;z;1"]
    bad.write_csv(raw / "IR_DPT_V.csv", header, rows)


def _unknown_missing(raw: Path) -> None:
    header = ["BEN_NIR_PSA", "BEN_NAI_ANN", "NEW_COL_2030", "BEN_NAI_ANN"]
    bad.write_csv(raw / "IR_BEN_R.csv", header, ["A1;1950;x;1951"])


def _latin1(raw: Path) -> None:
    header = ["GEO_DPT_COD", "GEO_REG_COD", "GEO_DPT_LIB", "TEC_COL"]
    rows = ["001;84;Ain;1", "973;03;Guyane française;1", "974;04;La Réunion;1"]
    bad.write_csv(raw / "IR_DPT_V.csv", header, rows, encoding="latin-1")


def _latin1_late(raw: Path) -> None:
    header = ["GEO_DPT_COD", "GEO_REG_COD", "GEO_DPT_LIB", "TEC_COL"]
    rows = [f"{i:03d};84;Ain;1" for i in range(80_000)] + ["974;04;La Réunion;1", "x;y"]
    bad.write_csv(raw / "IR_DPT_V.csv", header, rows, encoding="latin-1")


def _empty(raw: Path) -> None:
    raw.mkdir(parents=True)
    (raw / "IR_BEN_R.csv").write_bytes(b"")
    (raw / "IR_IMB_R.csv").write_bytes(b"BEN_NIR_PSA;BEN_RNG_GEM\n")


def _duplicate(raw: Path) -> None:
    bad._ben(raw, ["A1;1;1950;1;;075"])
    (raw / "copy").mkdir()
    (raw / "copy" / "IR_BEN_R.csv").write_bytes((raw / "IR_BEN_R.csv").read_bytes())


def _absurd(raw: Path) -> None:
    bad._ben(
        raw,
        [
            "A1;1;2099;1;;075",
            "A2;1;1950;1;05/03/1850;075",
            "A3;1;1950;1;31/02/2020;075",
            "A4;x;1950;1;;075",
            "A5;1;1950;1;;075",
            "A6;1.5;1950.4;2;;075",
        ],
    )
    bad.write_csv(
        raw / "IR_IMB_R.csv",
        ["BEN_NIR_PSA", "BEN_RNG_GEM", "IMB_ALD_DTD", "IMB_ALD_DTF"],
        ["A5;1;01/01/2015;01/01/1600", "A6;1;01/01/2015;01/01/1601"],
    )
    bad.write_csv(raw / "T_MCO20B.csv", ["ETA_NUM", "RSA_NUM", "SEJ_NBJ"], ["100;1;3", "100;2;-2"])


def _decimal_sas(raw: Path) -> None:
    bad.write_csv(
        raw / "er_pha_f_2020.txt",
        ["PHA_ACT_PRU", "PHA_ACT_QSN", "FLX_DIS_DTD", "DCT_ORD_NUM"],
        ['"12,50",2,01/02/2020,9', "3.25,1,2020-03-01,9", "1e3,x,5/3/2020,9", "abc,1,2020-3-5,9"],
        delim=",",
    )
    bad.write_csv(
        raw / "T_MCO20C.csv",
        ["ETA_NUM", "RSA_NUM", "EXE_SOI_DTD", "EXE_SOI_DTF"],
        ["100;1;05JAN2020:00:00:00;07jan2020", "100;2;5Feb2020:10:00:00;31FEB2020"],
    )


def _gzip_parquet(raw: Path) -> None:
    raw.mkdir(parents=True)
    body = "BEN_NIR_PSA;BEN_NAI_ANN;BEN_DCD_DTE\nA1;1950;05/03/2020\n\nA2;2099;\nA3\n"
    (raw / "IR_BEN_R.csv.gz").write_bytes(gzip.compress(body.encode()))
    table = pa.table(
        {
            "ben_nir_psa": ["B1", "B2", "B3"],
            "BEN_NAI_ANN": [1950, 1960, 1700],
            "BEN_DCD_DTE": [dt.date(2020, 3, 5), None, None],
            "PHA_ACT_PRU": [1.5, None, 2.0],
            "EXTRA": [1, 2, 3],
        }
    )
    pq.write_table(table, raw / "IR_BEN_R_part2.parquet")


def _refused(raw: Path) -> None:
    bad.write_csv(raw / "notes.csv", ["FOO", "BAR"], ["1;2"])
    (raw / "README.md").write_text("hello")
    (raw / "IR_BEN_R_2.csv.gz").write_bytes(b"not gzip at all")
    bad.write_csv(raw / "IR_BEN_R.csv", ["FOO", "BAR"], ["1;2"])


CASES = {
    "good": _good,
    "truncated_last_line": _truncated,
    "wrong_column_count": _wrong_count,
    "csv_edge_cases": _csv_edge_cases,
    "crlf": _crlf,
    "nothing_staged": _nothing_staged,
    "quoted_line_breaks": _quoted_line_breaks,
    "unknown_missing_duplicated_columns": _unknown_missing,
    "latin1": _latin1,
    "latin1_after_first_mb": _latin1_late,
    "empty": _empty,
    "duplicate": _duplicate,
    "absurd_values": _absurd,
    "decimal_comma_sas_dates": _decimal_sas,
    "gzip_parquet": _gzip_parquet,
    "refused": _refused,
}


@pytest.mark.spark
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_same_as_duckdb(case: str, spark_engine: Any, tmp_path: Path) -> None:
    CASES[case](tmp_path / "raw")
    results = _stage_both(tmp_path / "raw", tmp_path, spark_engine)
    assert_same_staging(results)
    assert results["spark"][1].accounts, case


@pytest.mark.spark
def test_line_numbers_exact_across_input_splits(spark_engine: Any, tmp_path: Path) -> None:
    """A file read as many input splits (tiny ``maxPartitionBytes``) keeps exact line numbers
    through blank and malformed lines."""
    rows = []
    for i in range(1, 301):
        rows.append(f"A{i};1;1950;1;;075" if i % 37 else f"A{i};1")
        if i % 23 == 0:
            rows.append("")
    bad._ben(tmp_path / "raw", rows)
    spark = spark_engine.session()
    key = "spark.sql.files.maxPartitionBytes"
    old = spark.conf.get(key)
    spark.conf.set(key, "512")
    try:
        splits = spark.read.text(str(tmp_path / "raw" / "IR_BEN_R.csv")).rdd.getNumPartitions()
        results = _stage_both(tmp_path / "raw", tmp_path, spark_engine)
    finally:
        spark.conf.set(key, old)
    assert splits > 5
    assert_same_staging(results)
    lake, result = results["spark"]
    (acc,) = result.accounts
    assert (acc.rows_in, acc.quarantined) == (300, {"malformed_line": 8})
    stg = _part(lake / acc.parts[0])[1]
    # A<i> sits on data line i + (blank lines before it)
    numbers = [int(r["BEN_NIR_PSA"][1:]) for r in stg]
    assert [r["_source_line"] for r in stg] == [i + (i - 1) // 23 for i in numbers]


@pytest.mark.spark
def test_unclosed_quote_runs_to_the_end_of_the_file(spark_engine: Any, tmp_path: Path) -> None:
    """Documented difference: a quote never closed makes one record of the rest of the file,
    quarantined whole (DuckDB quarantines each of its lines); the account says so."""
    from sndslab.ingest import stage

    rows = ["A1;1;1950;1;;075", "", "A2;1;1950;1;;075", 'A3;"1;1950;1;;075', "A4;1;1950;1;;075"]
    bad._ben(tmp_path / "raw", rows)
    (acc,) = stage(tmp_path / "raw", tmp_path / "lake", engine=spark_engine).accounts
    assert (acc.rows_in, acc.staged, acc.quarantined) == (3, 2, {"malformed_line": 1})
    assert any("quote never closed" in n for n in acc.notes)
    assert any("quoted values contain line breaks" in n for n in acc.notes)
    (q,) = bad.quarantine_rows(tmp_path / "lake", acc)
    assert (q["_source_line"], q["raw_value"]) == (4, 'A3;"1;1950;1;;075\nA4;1;1950;1;;075')
    assert q["detail"].startswith("UNQUOTED VALUE")
    assert [r["_source_line"] for r in bad.stg_rows(tmp_path / "lake", acc)] == [1, 3]


TEXTS = [
    "1950", "1.5", "2.5", "-1.5", ".5", "-.5", "1.", "1e3", "1.5e0", "+5", " 7 ", "00012",
    "1_000", "1__000", "1_0.5", "1e", "e3", ".", "1.2.3", "1 000", "abc", "", "12,5", "1,5e1",
    "9223372036854775807", "9223372036854775808", "1e19", "1.5d", "1.5f", "inf", "-Infinity",
    "+INF", "nan", "-nan",
]  # fmt: skip
DATES = [
    "05/03/2020", "5/3/2020", "05/03/20", "1/1/0020", "05/03/02020", "31/02/2020", "29/02/2019",
    "29/02/2020", "00/01/2020", "005/03/2020", "2020-03-05", "2020-3-5", "2020-03-05 10:11:12",
    "2020-03-05T10:11:12", "05/03/2020 1:2:3", "05/03/2020 10:11", "2020-03-05 24:00:00",
    "05JAN2020", "05jan2020", "5Jan2020", "05JANUARY2020", "05SEPT2020", "05JAN2020:00:00:00",
    "05DEC2019:23:59:59", "31APR2020", "05 JAN 2020", "", "x", "1850-01-01", "2150-01-01",
]  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b and type(a) is type(b))


@pytest.mark.spark
@pytest.mark.parametrize(
    ("table", "columns", "values"),
    [
        ("ER_PHA_F", ("PHA_ACT_QSN", "PHA_ACT_PRU"), TEXTS),  # integer, number
        ("IR_BEN_R", ("BEN_DCD_DTE",), DATES),  # date, DCIR format
        ("T_MCOaaC", ("EXE_SOI_DTD",), DATES),  # date, SAS datetime format
    ],
)
def test_typing_same_values_as_duckdb(
    spark_engine: Any, table: str, columns: tuple[str, ...], values: list[str]
) -> None:
    """The typing SQL (``checked_sql``) gives the same value and first failed check on both
    engines, value by value, for DuckDB's corner cases of TRY_CAST and try_strptime."""
    from sndslab.engines import SparkConnection
    from sndslab.ingest._read import checked_sql, plan_columns
    from sndslab.registry import get_table

    plan = plan_columns(get_table(table), columns)
    cols = [f"c{i}" for i in range(len(columns))]
    data = [(k, *([v] * len(columns))) for k, v in enumerate(values, start=1)]
    duck = duckdb.connect()
    arrays = zip(*data, strict=True)
    duck.register("src_values", pa.table(dict(zip(["_ord", *cols], arrays, strict=True))))
    checked = checked_sql(plan, "SELECT * FROM src_values")
    names = ", ".join(f'"{c}"' for c in columns)
    query = f"SELECT _ord, {names}, _q FROM ({checked}) ORDER BY _ord"
    expected = duck.execute(query).fetchall()
    spark = SparkConnection(spark_engine.session(), spark_engine)
    try:
        schema = "_ord BIGINT, " + ", ".join(f"{c} STRING" for c in cols)
        spark.register("src_values", spark.spark.createDataFrame(data, schema))
        got = spark.fetchall(query)
    finally:
        spark.close()
    diffs = [
        (values[e[0] - 1], e, g)
        for e, g in zip(expected, got, strict=True)
        if not all(_same(x, y) for x, y in zip(e, g, strict=True))
    ]
    assert not diffs, diffs


@pytest.mark.spark
def test_synthetic_tables_same_as_duckdb(
    spark_engine: Any, synth_raw: Path, tmp_path: Path
) -> None:
    """Beneficiaries, pharmacy claims and PMSI stays of the session's synthetic extract (with
    its injected artefacts) stage identically, row for row."""
    raw = tmp_path / "raw"
    raw.mkdir()
    names = ["IR_BEN_R.csv", "ER_PHA_F_2019.csv", "T_MCO19B.csv", "T_MCO19C.csv"]
    for name in names:
        shutil.copy(synth_raw / name, raw / name)
    results = _stage_both(raw, tmp_path, spark_engine)
    assert_same_staging(results)
    accounts = results["spark"][1].accounts
    assert [a.file for a in accounts] == sorted(names)
    assert all(a.status == "staged" and a.staged > 0 for a in accounts)


@pytest.mark.spark
def test_file_paths_with_glob_characters(spark_engine: Any, tmp_path: Path) -> None:
    """Spark readers expand globs: a raw path with ``[``, ``{`` or ``*`` is read literally."""
    from sndslab.ingest import stage

    raw = tmp_path / "extract [v2] {a,b} *"
    _good(raw)
    (acc,) = stage(raw, tmp_path / "lake", engine=spark_engine).accounts
    assert (acc.status, acc.staged) == ("staged", 2), acc.message
