"""Fixtures of the cohort tests: the session's synthetic lake (2,000 persons × 2019–2020) with
its events, copied once (read-only: copy it again before writing into it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import sndslab
from sndslab.lake import Lake


@pytest.fixture(scope="session")
def cohort_lake(events_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's lake with its events layer (read-only)."""
    lake = tmp_path_factory.mktemp("cohorts-lake") / "lake"
    shutil.copytree(events_synth, lake)
    return lake


@pytest.fixture
def writable_lake(cohort_lake: Path, tmp_path: Path) -> Path:
    """A private copy of the cohort lake, for tests that write marts."""
    lake = tmp_path / "lake"
    shutil.copytree(cohort_lake, lake)
    return lake


@pytest.fixture(scope="module")
def opened(cohort_lake: Path) -> Iterator[Lake]:
    lake = sndslab.open_lake(cohort_lake)
    yield lake
    lake.close()
