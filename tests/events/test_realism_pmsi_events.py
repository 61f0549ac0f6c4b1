"""PMSI realism (issue 10, item 3): the provenance of MCO stays (ENT_PRV: 5 = admitted through
the emergency department, used by the readmission truth) is kept into ``int.mco_stays`` and the
``mco_stay`` events; sessions and transfers keep their modes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from sndslab.events import EventsResult


@pytest.fixture(scope="module")
def con(
    events_lake: Path,
    events_result: EventsResult,
    views: Callable[..., duckdb.DuckDBPyConnection],
) -> duckdb.DuckDBPyConnection:
    return views(events_lake, {"ev": "events.events", "stays": "int.mco_stays"})


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_entry_provenance_in_int_and_events(
    con: duckdb.DuckDBPyConnection, events_extract: Path
) -> None:
    emergency = _one(con, "SELECT count(*) FROM stays WHERE entry_provenance = '5'")
    assert emergency > 50
    counts = json.loads((events_extract / "truth" / "manifest.json").read_text())["counts"]
    # the ingest rules only remove records: at most the injected emergency admissions
    assert emergency <= counts["pmsi.mco.emergency_admissions"]
    # transfers in come from another MCO unit; transfers out go to MCO (1) or SSR (2)
    assert _one(con, "SELECT count(*) FROM stays WHERE entry_mode = '7'") > 0
    assert (
        _one(
            con,
            "SELECT count(*) FROM stays WHERE (entry_mode = '7') <> "
            "(coalesce(entry_provenance, '') = '1')",
        )
        == 0
    )
    assert _one(con, "SELECT count(*) FROM stays WHERE exit_destination = '1'") > 0
    # every stay event carries the provenance of its stay in its modifier (stays of a
    # person: a record whose NIR_ANO_17 links no person makes no event)
    ev = "SELECT * FROM ev WHERE source_table = 'mco_stays'"
    linked = _one(
        con, "SELECT count(*) FROM stays WHERE entry_provenance = '5' AND person_id IS NOT NULL"
    )
    assert emergency - linked < 0.05 * emergency
    assert _one(con, f"SELECT count(*) FROM ({ev}) WHERE modifier LIKE '%;ENT_PRV=5;%'") == (
        linked
    )
    assert (
        _one(
            con,
            f"SELECT count(*) FROM ({ev}) WHERE modifier NOT LIKE 'ENT_MOD=%;ENT_PRV=%;SOR_MOD=%'",
        )
        == 0
    )
