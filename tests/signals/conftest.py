"""Fixtures of the signals tests: the session's synthetic lake (2,000 persons × 2019–2020) with
its events layer (read-only: copy before writing marts), and a study fitted to it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import sndslab
from sndslab.lake import Lake
from sndslab.signals import FALLS_STUDY, StudySpec, load_study


@pytest.fixture(scope="session")
def signals_lake(events_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's lake with its events layer."""
    lake = tmp_path_factory.mktemp("signals-lake") / "lake"
    shutil.copytree(events_synth, lake)
    return lake


@pytest.fixture(scope="session")
def small_study() -> StudySpec:
    """The falls study on 2019–2020, screening drugs with 5 exposed cases or more (the
    session's lake has about twenty cases)."""
    data = load_study(FALLS_STUDY).model_dump(mode="json")
    data["period"] = {"start": "2019-01-01", "end": "2020-12-31"}
    data["screening"]["min_exposed_cases"] = 5
    return StudySpec.parse(data)


@pytest.fixture()
def opened(signals_lake: Path) -> Iterator[Lake]:
    lake = sndslab.open_lake(signals_lake)
    yield lake
    lake.close()
