"""Fixtures of the supply tests: handmade Open DAMIR tables (the public layout of
``opendamir.prestations``, docs/opendamir.md) and population files, small and with known
totals; the session's synthetic lake with its events (a copy)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sndslab.supply import OPENDAMIR_AGE_BANDS, PopulationFile

REGIONS = ("11", "24", "32", "44", "52", "53", "75", "76", "84", "93", "5")


def population(
    years: tuple[int, ...] = (2019, 2020),
    regions: tuple[str, ...] = REGIONS,
    per_cell: float = 50_000.0,
) -> PopulationFile:
    """Persons per région × year × Open DAMIR band × sex: ``per_cell`` × (1 + i mod 3), the
    60+ bands × (0.6 + 0.15 (7i mod 5)) and the under-20 band × (1.6 − 0.2 (i mod 4)) for the
    i-th région (age structures that differ between régions, not collinear)."""
    rows = [
        {
            "territory": r,
            "year": y,
            "age_band": b,
            "sex": s,
            "population": per_cell
            * (1 + i % 3)
            * ((0.6 + 0.15 * (7 * i % 5)) if b >= 60 else (1.6 - 0.2 * (i % 4)) if b == 0 else 1.0),
        }
        for i, r in enumerate(regions)
        for y in years
        for b in OPENDAMIR_AGE_BANDS
        for s in (1, 2)
    ]
    return PopulationFile.model_validate(
        {"source": "handmade test population", "territory_level": "region", "rows": rows}
    )


#: Yearly GP consultations per person by age group (0-19, 20-59, 60+).
BASE = (3.0, 4.0, 7.0)


def damir_lines(
    *,
    years: tuple[int, ...] = (2019, 2020),
    regions: tuple[str, ...] = REGIONS,
    extra: dict[str, float] | None = None,
    drop: float = 0.7,
    seed: int = 0,
    pop: PopulationFile | None = None,
) -> pa.Table:
    """GP consultations (PRS_NAT 1111 / 1211, PSE_SPE_SNDS 1): Poisson counts with a yearly
    rate per person of ``BASE`` by age group + ``extra[région]``, spread over the months,
    × ``drop`` from April 2020; plus one specialist line per cell (PSE_SPE_SNDS 3, not
    counted) and one line each of unknown région (99), age (99) and sex (9)."""
    rng = np.random.default_rng(seed)
    pop = pop or population(years, regions)
    extra = extra or {}
    cols: dict[str, list] = {
        c: []
        for c in (
            "FLX_ANN_MOI",
            "SOI_ANN",
            "SOI_MOI",
            "BEN_RES_REG",
            "AGE_BEN_SNDS",
            "BEN_SEX_COD",
            "PRS_NAT",
            "PSE_SPE_SNDS",
            "PRS_ACT_QTE",
            "PRS_REM_MNT",
        )
    }
    for row in pop.rows:
        if row.territory not in regions or row.year not in years:
            continue
        base = BASE[0] if row.age_band == 0 else BASE[2] if row.age_band >= 60 else BASE[1]
        for month in range(1, 13):
            mu = row.population * (base + extra.get(row.territory, 0.0)) / 12
            if (row.year, month) >= (2020, 4):
                mu *= drop
            for nat, share in ((1111, 0.9), (1211, 0.1)):
                n = int(rng.poisson(mu * share))
                _add(cols, row, month, nat, 1, n)
            _add(cols, row, month, 1112, 3, 7)  # a specialist consultation, not counted
    for territory, band, sex in (("99", 30, 1), ("11", 99, 2), ("11", 30, 9)):
        cols["FLX_ANN_MOI"].append(years[0] * 100 + 2)
        cols["SOI_ANN"].append(years[0])
        cols["SOI_MOI"].append(1)
        cols["BEN_RES_REG"].append(int(territory))
        cols["AGE_BEN_SNDS"].append(band)
        cols["BEN_SEX_COD"].append(sex)
        cols["PRS_NAT"].append(1111)
        cols["PSE_SPE_SNDS"].append(1)
        cols["PRS_ACT_QTE"].append(5)
        cols["PRS_REM_MNT"].append(87.5)
    return pa.table(
        {
            k: pa.array(v, pa.float64() if k == "PRS_REM_MNT" else pa.int64())
            for k, v in cols.items()
        }
    )


def _add(cols: dict[str, list], row, month: int, nat: int, spe: int, n: int) -> None:
    cols["FLX_ANN_MOI"].append(row.year * 100 + month)
    cols["SOI_ANN"].append(row.year)
    cols["SOI_MOI"].append(month)
    cols["BEN_RES_REG"].append(int(row.territory))
    cols["AGE_BEN_SNDS"].append(row.age_band)
    cols["BEN_SEX_COD"].append(row.sex)
    cols["PRS_NAT"].append(nat)
    cols["PSE_SPE_SNDS"].append(spe)
    cols["PRS_ACT_QTE"].append(n)
    cols["PRS_REM_MNT"].append(round(n * 17.5, 2))


def write(table: pa.Table, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-0.parquet")
    return folder


class Damir:
    """The helpers above, as one fixture (``damir.population(...)``, ``damir.lines(...)``)."""

    regions = REGIONS
    population = staticmethod(population)
    lines = staticmethod(damir_lines)
    write = staticmethod(write)


@pytest.fixture(scope="session")
def damir() -> type[Damir]:
    return Damir


@pytest.fixture(scope="session")
def supply_lake(events_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's lake (2,000 persons, 2019–2020) with its events."""
    lake = tmp_path_factory.mktemp("supply-lake") / "lake"
    shutil.copytree(events_synth, lake)
    return lake


def lake_copy(lake: Path, dest: Path) -> Path:
    shutil.copytree(lake, dest)
    return dest


@pytest.fixture
def writable_lake(supply_lake: Path, tmp_path: Path) -> Any:
    """A private copy of :func:`supply_lake` (its release log may be written)."""
    return lake_copy(supply_lake, tmp_path / "lake")
