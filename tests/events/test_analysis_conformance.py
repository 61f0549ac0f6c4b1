"""Every analysis passes the conformance checks of ``sndslab.analysis.checks`` on both engines
(it lives with the event tests: analyses read the events layer of the session's lake)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from sndslab.analysis import Analysis, EventCounts, ReleaseCandidate
from sndslab.analysis.checks import analysis_checks, check_same_on_engines
from sndslab.errors import SndslabError
from sndslab.events import EventsResult
from sndslab.lake import Lake, open_lake

#: One configured instance of every analysis class.
ANALYSES: list[Analysis] = [
    EventCounts(codes=["ATC//A10"], by=("year", "sex", "age_band")),
    EventCounts(codes=["ICD10//S72"], category="diagnosis", by=("region",)),
]
CASES = [(a, name, check) for a in ANALYSES for name, check in analysis_checks(a)]


@pytest.fixture(scope="module")
def duck_lake(events_result: EventsResult) -> Iterator[Lake]:
    lake = open_lake(events_result.lake)
    yield lake
    lake.close()


@pytest.mark.parametrize(
    ("analysis", "name", "check"), CASES, ids=[f"{type(a).__name__}-{n}" for a, n, _ in CASES]
)
def test_conformance_on_duckdb(duck_lake: Lake, analysis: Analysis, name: str, check: Any) -> None:
    check(duck_lake)


@pytest.mark.spark
@pytest.mark.parametrize("analysis", ANALYSES, ids=lambda a: repr(a)[:60])
def test_same_results_on_spark(
    duck_lake: Lake, events_result: EventsResult, spark_engine: Any, analysis: Analysis
) -> None:
    spark_lake = open_lake(events_result.lake, engine=spark_engine)
    try:
        for _, check in analysis_checks(analysis):
            check(spark_lake)
        check_same_on_engines(analysis, duck_lake, spark_lake)
    finally:
        spark_lake.close()


def test_event_counts_match_a_direct_query(duck_lake: Lake) -> None:
    counts = EventCounts(codes=["ATC//A10"], by=("year",)).fit(duck_lake)
    direct = duck_lake.sql(
        """SELECT CAST(year(start) AS BIGINT) AS year, count(DISTINCT person_id) AS persons,
                  count(*) AS events
           FROM events.events WHERE starts_with(code, 'ATC//A10') GROUP BY 1 ORDER BY 1"""
    ).to_arrow()
    assert counts.summary().to_pylist() == direct.to_pylist()
    persons = duck_lake.events(codes="ATC//A10").to_arrow().column("person_id").unique()
    assert counts.persons_ == len(persons)
    assert counts.engine_ == "duckdb"


def test_bad_parameters_are_clear(duck_lake: Lake) -> None:
    with pytest.raises(SndslabError, match="unknown dimension"):
        EventCounts(codes=["ATC//A10"], by=("colour",)).fit(duck_lake)
    with pytest.raises(SndslabError, match="at least one code"):
        EventCounts(codes=[]).fit(duck_lake)


def test_release_candidates_refuse_identifiers() -> None:
    table = pa.table({"person_id": ["P1"], "persons": [1]})
    with pytest.raises(SndslabError, match="identifiers never leave the lake"):
        ReleaseCandidate(table=table, dimensions=("person_id",), count_column="persons")
    with pytest.raises(SndslabError, match="undeclared column"):
        ReleaseCandidate(
            table=pa.table({"year": [2020], "persons": [3], "x": [1]}),
            dimensions=("year",),
            count_column="persons",
        )
