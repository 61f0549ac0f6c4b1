"""The Connection operations, one suite over both engines (DuckDB and Spark local mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sndslab.engines import Connection, Relation, get_engine
from sndslab.lake import canonical_type

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


def numbers(n: int) -> str:
    """``n`` rows of one BIGINT column ``x`` = 0 … n-1, in portable SQL."""
    values = ", ".join(f"({i})" for i in range(n))
    return f"SELECT CAST(x AS BIGINT) AS x FROM (VALUES {values}) v(x)"


@pytest.fixture(params=ENGINES)
def con(request: pytest.FixtureRequest) -> Any:
    if request.param == "duckdb":
        connection = get_engine("duckdb", threads=2).connect()
    else:
        connection = request.getfixturevalue("spark_engine").connect()
    yield connection
    connection.close()


def test_is_a_connection(con: Connection) -> None:
    assert isinstance(con, Connection)
    assert isinstance(con.sql("SELECT 1 AS a"), Relation)


def test_queries_and_named_relations(con: Connection) -> None:
    con.create_table("t_nums", numbers(5))
    con.create_view("v_even", "SELECT x FROM t_nums WHERE x % 2 = 0")
    assert con.scalar("SELECT sum(x) FROM v_even") == 6
    assert con.fetchall("SELECT x FROM v_even ORDER BY x") == [(0,), (2,), (4,)]
    assert con.fetchone("SELECT max(x), min(x) FROM t_nums") == (4, 0)
    assert con.fetchone("SELECT x FROM t_nums WHERE x > 10") is None
    con.drop("v_even")
    con.drop("v_even")  # dropping what is not there is a no-op
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own binder error
        con.scalar("SELECT count(*) FROM v_even")


def test_describe_gives_portable_types(con: Connection) -> None:
    cols = con.describe(
        "SELECT 'a' AS s, CAST(1 AS BIGINT) AS i, CAST(1.5 AS DOUBLE) AS d, "
        "DATE '2020-01-02' AS dt, TRUE AS b"
    )
    assert [c for c, _ in cols] == ["s", "i", "d", "dt", "b"]
    assert [canonical_type(t) for _, t in cols] == [
        "string", "integer", "number", "date", "boolean",
    ]  # fmt: skip


def test_write_and_read_a_dataset(con: Connection, tmp_path: Path) -> None:
    target = str(tmp_path / "ds")
    n = con.write_dataset(
        f"SELECT x, 'p' || CAST(x % 3 AS VARCHAR) AS g FROM ({numbers(100)}) n",
        target,
        order_by=["g", "x DESC"],
    )
    assert n == 100
    rel = con.dataset(target)
    assert con.scalar(f"SELECT count(DISTINCT x) FROM {rel}") == 100
    # replaced, not appended, on a second write
    assert con.write_dataset("SELECT CAST(1 AS BIGINT) AS x, 'q' AS g", target) == 1
    assert con.fetchall(f"SELECT x, g FROM {con.dataset(target)}") == [(1, "q")]


def test_ordered_dataset_reads_back_in_order_on_duckdb(tmp_path: Path) -> None:
    con = get_engine("duckdb").connect()
    target = str(tmp_path / "ds")
    con.write_dataset("SELECT range AS x FROM range(1000)", target, order_by=["x DESC"])
    xs = [r[0] for r in con.fetchall(f"SELECT x FROM {con.dataset(target)}")]
    assert xs == sorted(xs, reverse=True)
    con.close()


def test_several_datasets_unite_by_name(con: Connection, tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    con.write_dataset("SELECT CAST(1 AS BIGINT) AS x, 'u' AS y", a)
    con.write_dataset("SELECT 'v' AS y, CAST(2 AS BIGINT) AS x", b)
    rows = con.fetchall(f"SELECT x, y FROM {con.dataset([a, b])} ORDER BY x")
    assert rows == [(1, "u"), (2, "v")]


def test_register_arrow(con: Connection) -> None:
    con.register_arrow("t_arrow", pa.table({"k": ["a", "b", "b"], "v": [1, 2, 3]}))
    assert con.fetchall("SELECT k, sum(v) FROM t_arrow GROUP BY k ORDER BY k") == [
        ("a", 1), ("b", 5),
    ]  # fmt: skip


def test_relation_conversions(con: Connection) -> None:
    rel = con.sql(numbers(3))
    assert rel.columns == ["x"]
    assert rel.count() == 3
    assert sorted(rel.to_arrow().column("x").to_pylist()) == [0, 1, 2]


def test_storage_small_files(con: Connection, tmp_path: Path) -> None:
    st = con.storage
    f = st.join(str(tmp_path), "d", "note.json")
    st.write_text(f, '{"a": 1}\n')
    st.write_text(f, '{"a": 2}\n')  # replaced atomically
    assert st.read_text(f) == '{"a": 2}\n'
    assert st.exists(f) and not st.is_dir(f) and st.is_dir(str(tmp_path / "d"))
    assert st.list_dir(str(tmp_path / "d")) == ["note.json"]
    st.delete(str(tmp_path / "d"))
    assert not st.exists(f)


def test_cursor_shares_the_engine(con: Connection) -> None:
    cur = con.cursor()
    assert cur.scalar("SELECT 41 + 1") == 42
    assert cur.engine.name == con.engine.name
    cur.close()


def test_duckdb_dialect_runs_on_both(con: Connection) -> None:
    """A few DuckDB spellings the pipeline uses, through the Spark transpiler too."""
    row = con.fetchone(
        """SELECT TRY_CAST('12' AS BIGINT), TRY_CAST('x' AS BIGINT),
                  DATE '2020-01-31' + INTERVAL (1) MONTH,
                  string_agg(v, ',' ORDER BY v)
           FROM (SELECT 'b' AS v UNION ALL SELECT 'a') t"""
    )
    assert row is not None
    assert row[0] == 12 and row[1] is None and str(row[2])[:10] == "2020-02-29"
    assert row[3] == "a,b"
