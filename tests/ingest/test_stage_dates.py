"""Property test: any date in range written in an SNDS format is typed back to itself."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sndslab.ingest._read import checked_sql, plan_columns
from sndslab.registry import get_table

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _fmt(day: dt.date, style: str) -> str:
    if style == "dcir":
        return day.strftime("%d/%m/%Y")
    if style == "iso":
        return day.isoformat()
    sas = f"{day.day:02d}{MONTHS[day.month - 1]}{day.year:04d}"  # locale-independent %b
    return sas + ":00:00:00" if style == "sas_datetime" else sas


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(
        st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
        min_size=1,
        max_size=20,
    ),
    table=st.sampled_from(["IR_BEN_R", "T_MCOaaC"]),
    style=st.sampled_from(["dcir", "iso", "sas_datetime", "sas_date"]),
)
def test_snds_dates_round_trip(
    con: duckdb.DuckDBPyConnection, days: list[dt.date], table: str, style: str
) -> None:
    spec = get_table(table)
    col = "BEN_DCD_DTE" if table == "IR_BEN_R" else "EXE_SOI_DTD"
    plan = plan_columns(spec, (col,))
    source = "SELECT row_number() OVER () AS _ord, c0 FROM (SELECT unnest(?::VARCHAR[]) AS c0)"
    sql = f'SELECT "{col}", _q FROM ({checked_sql(plan, source)}) ORDER BY _ord'
    got = con.execute(sql, [[_fmt(d, style) for d in days]]).fetchall()
    assert got == [(d, None) for d in days]
