"""Shared fixtures of the ingest tests: one synthetic extract per session, staged once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.ingest import StageResult, stage
from sndslab.synth import SynthConfig, generate


@pytest.fixture(scope="session")
def synth_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 persons over 2019–2020 (seed 1): ``raw/`` and ``truth/`` (generated once)."""
    out = tmp_path_factory.mktemp("ingest-synth") / "extract"
    generate(
        SynthConfig(patients=2000, first_year=2019, last_year=2020, seed=1, chunk_size=1000), out
    )
    return out


@pytest.fixture(scope="session")
def synth_raw(synth_extract: Path) -> Path:
    """The raw export files (``*.csv``, ``;``-separated) of the session's synthetic extract."""
    return synth_extract / "raw"


@pytest.fixture(scope="session")
def synth_truth(synth_extract: Path) -> Path:
    """The generator's truth directory (``manifest.json`` with injected-artefact counts)."""
    return synth_extract / "truth"


@pytest.fixture(scope="session")
def synth_staged(
    synth_raw: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, StageResult]:
    """(lake, result) of staging the session's synthetic extract once. Read-only: copy the
    lake before modifying it."""
    lake = tmp_path_factory.mktemp("ingest-lake") / "lake"
    return lake, stage(synth_raw, lake)


@pytest.fixture(scope="session")
def ingested_synth(
    synth_extract: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(generator output, lake after the full ``ingest``) of the session's synthetic extract.
    Read-only: copy the lake before modifying it."""
    from sndslab.ingest import ingest

    lake = tmp_path_factory.mktemp("ingest-full") / "lake"
    ingest(synth_extract / "raw", lake)
    return synth_extract, lake
