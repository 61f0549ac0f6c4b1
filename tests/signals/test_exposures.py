"""Exposure eras built in the engine against a plain-Python statement of the same rules
(start/end delays, grace period, minimum purchases in a window, clipping to observation)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sndslab.engines import Connection, get_engine
from sndslab.signals import FALLS_STUDY, StudyData, StudySpec, load_study

D0 = dt.date(2020, 1, 1)


def _study(**exposures: Any) -> StudySpec:
    data = load_study(FALLS_STUDY).model_dump(mode="json")
    data["exposures"].update(exposures)
    data["sccs"]["pre_exposure_days"] = 10
    return StudySpec.parse(data)


def _reference(
    purchases: list[tuple[int, int]], spec: StudySpec, obs: tuple[int, int]
) -> list[tuple[int, int, int]]:
    e = spec.exposures
    eras: list[list[tuple[int, int, int]]] = []
    max_f = None
    for day, covered in sorted(purchases):
        s, f = day + e.start_delay, day + covered - 1 + e.end_delay
        if max_f is None or s > max_f + e.grace_days + 1:
            eras.append([])
        eras[-1].append((day, s, f))
        max_f = f if max_f is None else max(max_f, f)
    out = []
    for era in eras:
        starts = [
            s
            for d, s, _ in era
            if sum(1 for d2, _, _ in era if d - e.purchases_window_days < d2 <= d)
            >= e.min_purchases
        ]
        if not starts:
            continue
        start, end = min(starts), max(f for _, _, f in era)
        if start <= obs[1] + spec.sccs.pre_exposure_days and end >= obs[0]:
            out.append((start, end, len(era)))
    return sorted(out)


@pytest.fixture(scope="module")
def con() -> Any:
    connection = get_engine("duckdb").connect()
    yield connection
    connection.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    days=st.lists(st.integers(0, 400), min_size=1, max_size=12, unique=True),
    covered=st.integers(1, 60),
    start_delay=st.integers(0, 5),
    end_delay=st.integers(0, 10),
    grace=st.integers(0, 30),
    min_purchases=st.integers(1, 3),
    window=st.integers(20, 200),
    obs=st.tuples(st.integers(0, 200), st.integers(200, 500)),
)
def test_eras_follow_the_rules(
    con: Connection,
    days: list[int],
    covered: int,
    start_delay: int,
    end_delay: int,
    grace: int,
    min_purchases: int,
    window: int,
    obs: tuple[int, int],
) -> None:
    spec = _study(
        start_delay=start_delay,
        end_delay=end_delay,
        grace_days=grace,
        min_purchases=min_purchases,
        purchases_window_days=window,
    )
    day = [D0 + dt.timedelta(days=d) for d in days]
    con.register_arrow(
        "p",
        pa.table({"person_id": ["a"] * len(days), "day": day, "atc": ["N05CF02"] * len(days),
                  "packs": [1.0] * len(days), "days_covered": [covered] * len(days)}),
    )  # fmt: skip
    con.register_arrow(
        "c",
        pa.table({"person_id": ["a"], "observation_start": [D0 + dt.timedelta(days=obs[0])],
                  "observation_end": [D0 + dt.timedelta(days=obs[1])],
                  "birth_date": [dt.date(1940, 1, 1)], "n_events": [1]}),
    )  # fmt: skip
    data = StudyData(SimpleNamespace(con=con), spec)  # type: ignore[arg-type]
    data.tables.update({"purchases": "p", "cases": "c"})
    got = con.fetchall(f"SELECT era_start, era_end, purchases FROM {data.eras()} ORDER BY 1")
    data.drop_all()
    expected = _reference([(d, covered) for d in days], spec, obs)
    assert [((s - D0).days, (e - D0).days, n) for s, e, n in got] == expected
