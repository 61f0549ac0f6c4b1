"""Shared fixtures of the ingest tests: one synthetic extract per session, staged once."""

from __future__ import annotations

from collections.abc import Iterator
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


class LakeReader:
    """Reads a lake's tables through :mod:`sndslab.lake` (never by file path): ``r["int.x"]``
    is the SQL relation of table ``int.x`` (internal tables such as ``int.clean__ER_PRS_F``
    included), ``r.rows(sql)`` runs a query on the lake's DuckDB connection."""

    def __init__(self, root: Path) -> None:
        from sndslab.lake import open_lake

        self.lake = open_lake(root)

    def __getitem__(self, name: str) -> str:
        from sndslab.lake import relation

        return relation(self.lake.con, self.lake.paths, name)

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        return self.lake.con.fetchall(sql)

    def one(self, sql: str) -> tuple[object, ...]:
        row = self.lake.con.fetchone(sql)
        assert row is not None
        return row

    def close(self) -> None:
        self.lake.close()


@pytest.fixture(scope="module")
def synth_lake(ingested_synth: tuple[Path, Path]) -> Iterator[LakeReader]:
    """A :class:`LakeReader` of the session's fully ingested synthetic lake (read-only)."""
    reader = LakeReader(ingested_synth[1])
    yield reader
    reader.close()
