"""Session fixtures of the event tests: one synthetic extract, ingested once, events once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sndslab.events import EventsResult, extract_events


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
