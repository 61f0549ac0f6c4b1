"""Fixtures of the Open DAMIR tests: a copy of the session's ingested synthetic lake (the export
records its release in the lake's release log), one export of it, and the export read back by
the Open DAMIR ingest; plus a writer of small handmade month files."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sndslab.opendamir import PUBLIC_COLUMNS, OpenDamirExport, export_opendamir, ingest_opendamir

#: The axes and months of the fixture export: coarse enough that cells of 11 persons exist in
#: a 2,000-person extract, three flow months to keep the gate fast.
EXPORT_AXES = ("AGE_BEN_SNDS", "BEN_SEX_COD", "PRS_NAT")
EXPORT_MONTHS = (201906, 201907, 201908)


@pytest.fixture(scope="session")
def od_lake(ingested_synth: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("od-lake") / "lake"
    shutil.copytree(ingested_synth[1], dest)
    return dest


@pytest.fixture(scope="session")
def od_export(od_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> OpenDamirExport:
    out = tmp_path_factory.mktemp("od-export") / "opendamir"
    return export_opendamir(od_lake, out, axes=EXPORT_AXES, months=EXPORT_MONTHS)


@pytest.fixture(scope="session")
def od_roundtrip(od_export: OpenDamirExport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("od-roundtrip") / "lake"
    ingest_opendamir(od_export.out, lake)
    return lake


def public_line(**values: object) -> str:
    """One line in the public layout: a GP consultation cell, overridden by ``values``."""
    base: dict[str, object] = {c: 0 for c in PUBLIC_COLUMNS}
    base.update(
        FLX_ANN_MOI=201901, AGE_BEN_SNDS=30, BEN_SEX_COD=2, BEN_RES_REG=11, ORG_CLE_REG=11,
        PRS_NAT=1111, PSE_SPE_SNDS=1, PSE_ACT_CAT=1, SOI_ANN=2019, SOI_MOI=1, PRS_ACT_QTE=3,
        PRS_ACT_NBR=3, PRS_PAI_MNT="75.00", PRS_REM_MNT="52.50", PRS_REM_BSE="75.00",
    )  # fmt: skip
    base.update(values)
    return ";".join(str(base[c]) for c in PUBLIC_COLUMNS) + "\n"


@pytest.fixture
def write_month() -> Callable[..., Path]:
    """``write_month(path, lines, header=None)``: a month file (gzip when ``.gz``)."""

    def write(path: Path, lines: list[str], header: str | None = None) -> Path:
        text = (header if header is not None else ";".join(PUBLIC_COLUMNS) + "\n") + "".join(lines)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return write
