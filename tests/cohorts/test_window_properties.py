"""Property tests of the date arithmetic the cohort SQL relies on, against plain Python:
window membership relative to index, age in full years (29 February included), and the
observation end (study end, death, loss to follow-up after a gap without care)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import duckdb
import hypothesis.strategies as st
from hypothesis import given, settings

from sndslab.cohorts import CohortSpec
from sndslab.cohorts._build import _age_sql, _observation_sql

CON = duckdb.connect()
DAYS = st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31))
START, END = dt.date(2019, 1, 1), dt.date(2020, 12, 31)


@settings(max_examples=60, deadline=None)
@given(index=DAYS, event=DAYS, lo=st.integers(-800, 800), width=st.integers(0, 800))
def test_window_membership_matches_python(
    index: dt.date, event: dt.date, lo: int, width: int
) -> None:
    hi = lo + width
    got = CON.execute(
        f"SELECT date_diff('day', DATE '{index}', DATE '{event}') BETWEEN {lo} AND {hi}"
    ).fetchone()
    assert got is not None
    assert got[0] == (lo <= (event - index).days <= hi)


def _python_age(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@settings(max_examples=60, deadline=None)
@given(birth=st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)), day=DAYS)
def test_age_in_full_years_matches_python(birth: dt.date, day: dt.date) -> None:
    sql = _age_sql(f"DATE '{birth}'", f"DATE '{day}'")
    got = CON.execute(f"SELECT {sql}").fetchone()
    assert got is not None and got[0] == _python_age(birth, day)


def _python_end(
    index: dt.date, death: dt.date | None, care: list[dt.date], gap: int | None
) -> dt.date:
    stop = death if death is not None and death < END else END
    if gap is None:
        return stop
    contacts = sorted({index, *(d for d in care if index < d <= stop)})
    for here, after in zip(contacts, [*contacts[1:], stop], strict=True):
        if (after - here).days > gap:
            return here
    return stop


SPEC = {
    "name": "p",
    "index": {"date": "2019-01-01"},
    "observation": {"study_start": str(START), "study_end": str(END)},
}


@settings(max_examples=40, deadline=None)
@given(
    index=st.dates(START, END),
    death=st.none() | st.dates(START, dt.date(2021, 6, 30)),
    care=st.lists(st.dates(dt.date(2018, 6, 1), dt.date(2021, 6, 30)), max_size=12),
    gap=st.none() | st.integers(1, 400),
)
def test_observation_end_matches_python(
    index: dt.date, death: dt.date | None, care: list[dt.date], gap: int | None
) -> None:
    if death is not None and death < index:
        death = index  # alive at index: the build has dropped the others already
    obs = {**SPEC["observation"], "loss_after_days": gap}  # type: ignore[dict-item]
    spec = CohortSpec.model_validate({**SPEC, "observation": obs})
    con = duckdb.connect()
    con.execute("CREATE TABLE ev (person_id VARCHAR, start DATE, category VARCHAR)")
    for d in care:
        con.execute("INSERT INTO ev VALUES ('p', ?, 'visit')", [d])
    con.execute("INSERT INTO ev VALUES ('p', DATE '2019-06-01', 'ald')")  # not care
    con.execute(
        "CREATE TABLE r AS SELECT 'p' AS person_id, ?::DATE AS index_date, "
        "DATE '1940-05-15' AS birth_date, ?::DATE AS death_date",
        [index, death],
    )
    builder = SimpleNamespace(events="ev")
    row = con.execute(_observation_sql(builder, spec, "r")).fetchone()  # type: ignore[arg-type]
    assert row is not None
    _, got_index, start, end = row
    assert got_index == index and start == START
    want = _python_end(index, death, care, gap)
    assert end == want
    assert index <= end <= END
