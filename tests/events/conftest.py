"""Session fixtures of the event tests: one synthetic extract, ingested once, events once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.events import EventsResult, extract_events
from sndslab.synth import SynthConfig, generate


@pytest.fixture(scope="session")
def events_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 persons × 2019–2020 (seed 1): ``raw/`` and ``truth/``."""
    out = tmp_path_factory.mktemp("events-synth") / "extract"
    generate(
        SynthConfig(patients=2000, first_year=2019, last_year=2020, seed=1, chunk_size=1000), out
    )
    return out


@pytest.fixture(scope="session")
def events_lake(events_extract: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lake after ``ingest`` (read-only)."""
    from sndslab.ingest import ingest

    lake = tmp_path_factory.mktemp("events-lake") / "lake"
    ingest(events_extract / "raw", lake)
    return lake


@pytest.fixture(scope="session")
def events_result(events_lake: Path) -> EventsResult:
    """``extract_events`` run once on the session lake with the built-in extractors."""
    return extract_events(events_lake)
