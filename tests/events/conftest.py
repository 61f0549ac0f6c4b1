"""Session fixtures of the event tests: one synthetic extract, ingested once, events once.

Tables are read through the lake (``sndslab.open_lake(lake).table("events.events")``,
:func:`lake_views`), never by file path.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import duckdb
import pytest

import sndslab
from sndslab.engines import DuckDBConnection
from sndslab.events import EventsResult, extract_events
from sndslab.lake import relation


def lake_views(lake: Path | str, views: Mapping[str, str]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection of the lake opened with ``sndslab.open_lake`` where each
    ``{view: "layer.table"}`` is a view of that lake table."""
    opened = sndslab.open_lake(lake)
    for view, name in views.items():
        opened.con.create_view(view, f"SELECT * FROM {relation(opened.con, opened.paths, name)}")
    con = opened.con
    assert isinstance(con, DuckDBConnection)
    return con.raw


@pytest.fixture(scope="session")
def views() -> Callable[[Path | str, Mapping[str, str]], duckdb.DuckDBPyConnection]:
    """:func:`lake_views`."""
    return lake_views


@pytest.fixture(scope="session")
def events_extract(synth_extract: Path) -> Path:
    """The session's synthetic extract (2,000 persons × 2019–2020): ``raw/`` and ``truth/``."""
    return synth_extract


@pytest.fixture(scope="session")
def events_lake(
    ingested_synth: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the session's ingested lake (events are written into it)."""
    lake = tmp_path_factory.mktemp("events-lake") / "lake"
    shutil.copytree(ingested_synth[1], lake)
    return lake


@pytest.fixture(scope="session")
def events_result(events_lake: Path) -> EventsResult:
    """``extract_events`` run once on the session lake with the built-in extractors."""
    return extract_events(events_lake)
