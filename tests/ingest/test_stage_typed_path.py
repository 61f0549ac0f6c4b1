"""The typed read path (DuckDB's CSV reader casts; lines it cannot cast are re-read as text)
must give exactly what the all-text path gives: same rows staged with the same values and data
line numbers, same rows quarantined with the same reason and column. Property-based over mixes
of well-formed values, other date formats, decimal commas, type errors, absurd values, blank and
malformed lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sndslab.engines import quote_path
from sndslab.ingest import stage
from sndslab.ingest._discover import inspect_file
from sndslab.ingest._read import checked_sql, plan_columns, source_sql

HEADER = ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_NAI_ANN", "BEN_DCD_DTE", "BEN_RES_DPT"]

RNG = st.sampled_from(["1", "2", " 3", "x", ""])
YEAR = st.sampled_from(["1950", "2099", "1880", "19x0", ""])
DATE = st.sampled_from(
    ["05/03/2020", "2020-03-05", "05MAR2020:00:00:00", "31/02/2020", "05/03/1850", "", "hier"]
)
GOOD = st.tuples(st.just("A"), RNG, YEAR, DATE, st.sampled_from(["075", "", "2A"])).map(
    lambda t: ";".join(t)
)
LINE = st.one_of(
    GOOD.filter(lambda s: True),
    GOOD,
    GOOD,
    st.just(""),  # blank line
    st.just("B;1;1950"),  # too few columns
    st.just("C;1;1950;05/03/2020;075;extra"),  # too many
)


def _rows(lake: Path, rel: str) -> list[dict[str, object]]:
    """Rows of the part directory ``lake/rel``, in the order of its parts (DuckDB)."""
    with duckdb.connect() as con:
        glob = quote_path(str(lake / rel / "*.parquet"))
        sql = f"SELECT * FROM read_parquet({glob}, hive_partitioning = false)"
        return con.sql(sql).to_arrow_table().to_pylist()


def _text_path(path: Path) -> tuple[dict[int, tuple], dict[int, tuple[str, str]]]:
    """(staged by data line, quarantined reason/column by data line) on the all-text path."""
    rf = inspect_file(path, path.parent)
    assert rf.table is not None
    plan = plan_columns(rf.table, rf.columns)
    con = duckdb.connect()
    blank = sorted(b - 1 for b in rf.blank_lines if b > 1)
    # the text path reads with ignore_errors: number its rows by data line, skipping blank and
    # malformed lines (those with a wrong number of fields)
    lines = path.read_text().split("\n")[1:]
    data_lines = [
        i + 1
        for i, text in enumerate(lines)
        if text != "" and text.count(";") == len(HEADER) - 1
    ]
    assert not (set(blank) & set(data_lines))
    out = con.execute(
        f"SELECT _ord, _q, {', '.join(HEADER)} FROM ({checked_sql(plan, source_sql(rf))}) "
        "ORDER BY _ord"
    ).fetchall()
    staged: dict[int, tuple] = {}
    quarantined: dict[int, tuple[str, str]] = {}
    for (_ord, q, *values), line in zip(out, data_lines, strict=True):
        if q is None:
            staged[line] = tuple(values)
        else:
            check = plan.checks[q - 1]
            quarantined[line] = (check.reason, check.column)
    return staged, quarantined


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(LINE, min_size=1, max_size=12))
def test_typed_path_equals_text_path(tmp_path_factory, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    if all(line == "" for line in lines):
        lines = [*lines, "A;1;1950;05/03/2020;075"]
    root = tmp_path_factory.mktemp("typed")
    raw = root / "raw"
    raw.mkdir()
    path = raw / "IR_BEN_R.csv"
    path.write_text(";".join(HEADER) + "\n" + "\n".join(lines) + "\n")
    (acc,) = stage(raw, root / "lake").accounts
    want_staged, want_q = _text_path(path)
    assert acc.rows_in == acc.staged + acc.quarantined_total
    stg = _rows(root / "lake", acc.parts[0])
    assert [r["_source_line"] for r in stg] == sorted(r["_source_line"] for r in stg)
    got_staged = {r["_source_line"]: tuple(r[c] for c in HEADER) for r in stg}
    assert got_staged == want_staged
    q_parts = [p for p in acc.parts if p.startswith("quarantine/")]
    got_q = {}
    malformed = set()
    for r in _rows(root / "lake", q_parts[0]) if q_parts else []:
        if r["reason"] == "malformed_line":
            malformed.add(r["_source_line"])
        else:
            got_q[r["_source_line"]] = (r["reason"], r["column"])
    assert got_q == want_q
    expected_malformed = {
        i + 1
        for i, text in enumerate(lines)
        if text != "" and text.count(";") != len(HEADER) - 1
    }
    assert malformed == expected_malformed


def test_recovered_rows_keep_their_line_and_values(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "IR_BEN_R.csv").write_text(
        ";".join(HEADER)
        + "\nA;1;1950;05/03/2020;075\nB;1;1950;2020-03-06;075\n\nC;1\nD;2;1960;07/03/2020;013\n"
    )
    (acc,) = stage(raw, tmp_path / "lake").accounts
    assert (acc.rows_in, acc.staged, acc.quarantined) == (4, 3, {"malformed_line": 1})
    stg = _rows(tmp_path / "lake", acc.parts[0])
    # file order: the re-read row B sits between A and D
    assert [r["_source_line"] for r in stg] == [1, 2, 5]
    got = {r["_source_line"]: (r["BEN_NIR_PSA"], r["BEN_DCD_DTE"]) for r in stg}
    assert got == {
        1: ("A", dt.date(2020, 3, 5)),
        2: ("B", dt.date(2020, 3, 6)),  # ISO date: re-read on the text path
        5: ("D", dt.date(2020, 3, 7)),  # after a blank line (3) and a malformed one (4)
    }
