"""The population file: persons by territory × year × age band × sex, the denominator of the
Open DAMIR indicators and of the région-level supply analysis.

Open DAMIR counts acts, not persons: a rate per capita needs a population from elsewhere. The
published sources are CNAM's **population protégée** (persons covered by each régime, by
territory: "Effectifs de la population protégée par le régime général", data.ameli.fr) and
INSEE's **estimations de population** by région, sex and age (insee.fr, "Estimations de
population par sexe et âge au 1er janvier"). The file has one row per territory, year, Open
DAMIR age band (``AGE_BEN_SNDS`` code: 0 for 0–19, 20, 30, …, 70, 80 for 80+) and sex (1, 2),
CSV with ``;`` or ``,``, and ``#`` header lines naming its ``source`` (required) and
``territory_level`` (``region`` or ``departement``)::

    # source: CNAM, population protégée du régime général au 1er janvier 2019 (data.ameli.fr)
    # territory_level: region
    territory;year;age_band;sex;population
    84;2019;0;1;1000000

:class:`PopulationFile` is its pydantic twin. For a synthetic lake, :func:`population_from_lake`
derives the file from the lake's beneficiaries (``events.patients``: persons covered and alive
in the year, by residence région, as the indicator denominators count them) and names that
source.

>>> p = PopulationFile.model_validate({"source": "test", "territory_level": "region",
...     "rows": [{"territory": "84", "year": 2019, "age_band": 0, "sex": 1, "population": 5}]})
>>> p.rows[0].age_band, p.to_arrow().num_rows
(0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sndslab.errors import SndslabError
from sndslab.indicators._spec import Denominator, TimeSpec
from sndslab.indicators._sql import denominator_sql, periods, population_sql

__all__ = [
    "OPENDAMIR_AGE_BANDS",
    "OVERSEAS_REGION",
    "PopulationError",
    "PopulationFile",
    "PopulationRow",
    "damir_region",
    "damir_region_code",
    "population_from_lake",
    "read_population",
]

#: AGE_BEN_SNDS codes of the Open DAMIR lexicon (lower bound of the band; 99 unknown is not a
#: population band).
OPENDAMIR_AGE_BANDS: tuple[int, ...] = (0, 20, 30, 40, 50, 60, 70, 80)
#: BEN_RES_REG code of the overseas régions in Open DAMIR (INSEE régions 01 to 06).
OVERSEAS_REGION = "5"
#: BEN_RES_REG code of Provence-Alpes-Côte d'Azur *and Corse* (INSEE 93 and 94): the Open
#: DAMIR code list has no separate Corse.
PACA_CORSE_REGION = "93"


class PopulationError(SndslabError):
    """A population file cannot be read, or does not cover a territory of the data."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationRow(_Model):
    territory: str = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    age_band: int
    sex: int = Field(ge=1, le=2, description="1 men, 2 women")
    population: float = Field(ge=0)

    @field_validator("age_band")
    @classmethod
    def _band(cls, v: int) -> int:
        if v not in OPENDAMIR_AGE_BANDS:
            raise ValueError(f"age_band {v} is not an Open DAMIR band {list(OPENDAMIR_AGE_BANDS)}")
        return v


class PopulationFile(_Model):
    """A population file (see the module docstring)."""

    source: str = Field(min_length=1)
    territory_level: Literal["region", "departement"]
    rows: tuple[PopulationRow, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> PopulationFile:
        seen: dict[tuple[str, int, int, int], int] = {}
        for i, r in enumerate(self.rows):
            key = (r.territory, r.year, r.age_band, r.sex)
            if key in seen:
                raise ValueError(
                    f"row {i + 1} repeats row {seen[key] + 1} (territory {r.territory}, year "
                    f"{r.year}, age band {r.age_band}, sex {r.sex})"
                )
            seen[key] = i
        return self

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "territory": [r.territory for r in self.rows],
                "year": pa.array([r.year for r in self.rows], pa.int64()),
                "age_band": pa.array([r.age_band for r in self.rows], pa.int64()),
                "sex": pa.array([r.sex for r in self.rows], pa.int64()),
                "population": pa.array([r.population for r in self.rows], pa.float64()),
            }
        )

    def to_csv(self) -> str:
        lines = [
            f"# source: {self.source}",
            f"# territory_level: {self.territory_level}",
            "territory;year;age_band;sex;population",
        ]
        lines += [
            f"{r.territory};{r.year};{r.age_band};{r.sex};{r.population:.17g}" for r in self.rows
        ]
        return "\n".join(lines) + "\n"


def read_population(path: str | Path) -> PopulationFile:
    """Read and validate a population file; errors name the file and the line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PopulationError(f"{p}: cannot read the population file ({exc})") from exc
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                meta[key.strip()] = value.strip()
        elif line.strip():
            body.append((i, line))
    if not body:
        raise PopulationError(f"{p}: no header line")
    header_line, header = body[0]
    sep = ";" if header.count(";") >= header.count(",") else ","
    names = [h.strip() for h in header.split(sep)]
    needed = ["territory", "year", "age_band", "sex", "population"]
    missing = [n for n in needed if n not in names]
    if missing:
        raise PopulationError(f"{p}: line {header_line}: missing column(s) {missing}")
    rows: list[dict[str, Any]] = []
    for lineno, line in body[1:]:
        cells = [c.strip() for c in line.split(sep)]
        if len(cells) != len(names):
            raise PopulationError(
                f"{p}: line {lineno}: {len(cells)} fields, the header has {len(names)}"
            )
        row = dict(zip(names, cells, strict=True))
        try:
            rows.append(
                PopulationRow.model_validate(
                    {k: row[k].replace(",", ".") if k == "population" else row[k] for k in needed}
                ).model_dump()
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise PopulationError(
                f"{p}: line {lineno}: {'.'.join(map(str, err['loc']))}: {err['msg']}"
            ) from exc
    try:
        return PopulationFile.model_validate(
            {
                "source": meta.get("source", ""),
                "territory_level": meta.get("territory_level", "region"),
                "rows": rows,
            }
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PopulationError(
            f"{p}: {'.'.join(map(str, err['loc']))}: {err['msg']} (the file needs a "
            "'# source: ...' line naming where the population comes from)"
        ) from exc


def damir_region(expr: str) -> str:
    """SQL: an INSEE région code as an Open DAMIR ``BEN_RES_REG`` code (overseas → ``5``,
    Corse → ``93`` with PACA, as in the lexicon's code list)."""
    return (
        f"CASE WHEN CAST({expr} AS VARCHAR) IN ('01', '02', '03', '04', '06', '1', '2', '3', "
        f"'4', '6') THEN '{OVERSEAS_REGION}' WHEN CAST({expr} AS VARCHAR) = '94' "
        f"THEN '{PACA_CORSE_REGION}' ELSE CAST({expr} AS VARCHAR) END"
    )


def damir_region_code(insee: str) -> str:
    """:func:`damir_region` for one code.

    >>> [damir_region_code(c) for c in ("01", "06", "94", "84")]
    ['5', '5', '93', '84']
    """
    if insee in ("01", "02", "03", "04", "06"):
        return OVERSEAS_REGION
    return PACA_CORSE_REGION if insee == "94" else insee


def population_from_lake(
    lake: Any, years: Sequence[int], *, level: Literal["region", "departement"] = "region"
) -> PopulationFile:
    """Persons covered and alive in each year (the indicator denominator of
    :mod:`sndslab.indicators`: ``events.patients``, fictitious NIRs left out) by residence
    territory (Open DAMIR région codes, or SNDS département codes), Open DAMIR age band (age
    reached in the year) and sex: the synthetic stand-in for the population protégée."""
    if not years:
        raise PopulationError("population_from_lake needs at least one year")
    cols = set(lake.table("events.patients").columns)
    pop = population_sql("events.patients", fictitious_column="fictitious_nir" in cols)
    den = denominator_sql(f"({pop})", periods(TimeSpec(unit="year"), list(years)), Denominator())
    terr = damir_region("d.region") if level == "region" else "CAST(d.dpt AS VARCHAR)"
    age = "CAST(substr(d.age5, 1, 2) AS BIGINT)"  # lower bound of the 5-year band
    band = (
        f"CASE WHEN {age} < 20 THEN 0 WHEN {age} >= 80 THEN 80 "
        f"ELSE CAST(floor({age} / 10) * 10 AS BIGINT) END"
    )
    rows = lake.sql(
        f"""SELECT territory, year, age_band, sex, CAST(count(*) AS DOUBLE) AS population
        FROM (SELECT {terr} AS territory, CAST(d.year AS BIGINT) AS year,
                     {band} AS age_band,
                     CAST(d.sex AS BIGINT) AS sex
              FROM ({den}) d) x
        GROUP BY territory, year, age_band, sex ORDER BY territory, year, age_band, sex"""
    ).to_arrow()
    return PopulationFile.model_validate(
        {
            "source": "derived from the synthetic lake's beneficiaries (events.patients: persons "
            "covered and alive in the year by residence, sndslab.indicators denominators), "
            "standing in for CNAM's population protégée and INSEE's population estimates",
            "territory_level": level,
            "rows": rows.to_pylist(),
        }
    )
