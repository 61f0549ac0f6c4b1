"""Shared fixtures of the ingest tests: one synthetic extract per session, staged once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.ingest import StageResult, stage


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
