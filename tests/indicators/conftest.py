"""Fixtures of the indicator tests: the session's synthetic lake (2,000 persons × 2019–2020)
with its events and the whole catalogue computed once (read-only: copy before modifying)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import sndslab
from sndslab.indicators import IndicatorsResult, compute_indicators
from sndslab.lake import Lake


@pytest.fixture(scope="session")
def indicators_lake(
    events_synth: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, IndicatorsResult]:
    """(lake, result): a copy of the session's lake with its events, and every indicator of
    the catalogue computed on DuckDB."""
    lake = tmp_path_factory.mktemp("indicators-lake") / "lake"
    shutil.copytree(events_synth, lake)
    return lake, compute_indicators(lake)


@pytest.fixture(scope="module")
def opened(indicators_lake: tuple[Path, IndicatorsResult]) -> Iterator[Lake]:
    lake = sndslab.open_lake(indicators_lake[0])
    yield lake
    lake.close()
