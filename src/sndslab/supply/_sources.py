"""Territory tables from a lake: départements from the DCIR claims (through the indicator
catalogue), régions from Open DAMIR aggregates (``opendamir.prestations``) and a population
file.

**Lake (départements).** Consultations are the events of the spec
``supply/specs/supply_gp_consultations.yaml`` (an indicator spec of
:mod:`sndslab.indicators`: DCIR prestation lines of natures C, G, V, VG — ``IR_NAT_V``
``PRS_NAT_CB2`` — billed by a general practitioner, executing specialty ``PSE_SPE_COD`` 1, 22
or 23, per person covered and alive in the year, by residence); the population is that
indicator's denominator; practitioners are the ``density_gp`` indicator's numerator
(``int.practitioners``, DA_PRA_R: specialty ``PFS_PRA_SPE`` 1, 22, 23 by the département of the
practice commune), or a practitioner file (RPPS / DREES counts, as the hackathon used).

**Open DAMIR (régions).** Consultations are ``sum(PRS_ACT_QTE)`` of the lines of care year
``SOI_ANN`` with ``PRS_NAT`` 1111 (C) or 1211 (V) executed by a GP (``PSE_SPE_SNDS`` 1, 22, 23),
by ``BEN_RES_REG``; lines of unknown région (99) are counted and left out; the population and
the age shares come from the population file; practitioners from a practitioner file (Open
DAMIR has no practitioner count) or, for a synthetic lake, from its DA_PRA_R by région.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.indicators._compute import run_catalogue
from sndslab.indicators._spec import Criterion, EventsNumerator, IndicatorSpec, load_indicators
from sndslab.indicators._sql import OUTPUT_COLUMNS
from sndslab.supply._population import PopulationError, PopulationFile, damir_region_code
from sndslab.supply._territory import (
    AGE_SHARE_PREFIX,
    TerritoryTableError,
    read_territory_table,
    territory_table,
)

__all__ = [
    "DEFAULT_DAMIR_NATURES",
    "DEFAULT_GP_SPECIALTIES",
    "DEFAULT_LAKE_NATURES",
    "OPENDAMIR_TABLE",
    "SPECS_DIR",
    "add_controls",
    "opendamir_relation",
    "practitioners_from_lake",
    "territories_from_lake",
    "territories_from_opendamir",
]

SPECS_DIR = Path(__file__).parent / "specs"
#: NGAP letter keys of GP consultations and home visits (events modifiers ``NGAP//<key>``).
DEFAULT_LAKE_NATURES: tuple[str, ...] = ("C", "G", "V", "VG")
#: PRS_NAT codes (IR_NAT_V) of consultations C and visits V: the hackathon's outcome.
DEFAULT_DAMIR_NATURES: tuple[int, ...] = (1111, 1211)
#: IR_SPE_V / PSE_SPE_SNDS specialties of general practitioners.
DEFAULT_GP_SPECIALTIES: tuple[int, ...] = (1, 22, 23)
#: The lake table of Open DAMIR lines (docs/opendamir.md).
OPENDAMIR_TABLE = "opendamir.prestations"


def _consultation_spec(natures: Sequence[str]) -> IndicatorSpec:
    spec = load_indicators(
        names=["supply_gp_consultations"], extra_dirs=[SPECS_DIR], builtin=False
    )[0]
    if not natures or any(not str(n).isalnum() for n in natures):
        raise InvalidArgumentError(f"natures must be NGAP letter keys, got {list(natures)}")
    crit = spec.numerator.any_of[0]  # type: ignore[union-attr]
    num = EventsNumerator(
        source="events",
        count="events",
        any_of=(
            Criterion(
                code_set=crit.code_set,
                categories=crit.categories,
                modifiers=tuple(f"NGAP//{n}" for n in natures),
            ),
        ),
    )
    return spec.model_copy(update={"numerator": num})


def _catalogue(
    lake: Any, specs: list[IndicatorSpec], year: int, accounting: dict[str, float] | None = None
) -> pa.Table:
    """The rows of ``specs`` for ``year`` (all sexes); ``accounting`` receives the persons left
    out of the population (by rule) and the numerator rows outside the denominator."""
    run, results, _, window = run_catalogue(lake.con, lake.paths, specs, [year])
    try:
        parts = [r for _, r, _ in results if r is not None]
        if len(parts) != len(specs):
            skipped = [rec.skipped for _, r, rec in results if r is None]
            raise InvalidArgumentError(
                f"year {year} cannot be computed on this lake (data years {window[0]}–"
                f"{window[1]}): {skipped}"
            )
        if accounting is not None:
            rules = ("excluded", "no_birth_date", "no_sex", "no_residence", "fictitious_nir")
            for key, value in run.population.items():
                rule = key.rsplit(".", 1)[-1]  # "events.patients.no_sex"; bare key: kept
                if rule in rules:
                    accounting[f"persons_excluded.{rule}"] = float(value)
            for spec, _, rec in results:
                accounting[f"{spec.name}.outside_denominator"] = float(rec.outside_denominator)
        cols = ", ".join(n for n, _ in OUTPUT_COLUMNS)
        union = " UNION ALL ".join(f"SELECT {cols} FROM {r}" for r in parts)
        return lake.con.sql(
            f"SELECT indicator, geo_level, geo_code, age_level, age_band, sex, numerator, "
            f"denominator FROM ({union}) u WHERE sex = 'all'"
        ).to_arrow()
    finally:
        run.drop_all()


def _rows(table: pa.Table, **equal: str) -> dict[str, tuple[float, float]]:
    """geo_code → (numerator, denominator) of the rows matching ``equal``."""
    mask = np.ones(table.num_rows, bool)
    for col, val in equal.items():
        mask &= np.asarray(table.column(col).to_pylist(), dtype=object) == val
    sub = table.filter(pa.array(mask))
    return {
        g: (float(n or 0), float(d or 0))
        for g, n, d in zip(
            sub.column("geo_code").to_pylist(),
            sub.column("numerator").to_pylist(),
            sub.column("denominator").to_pylist(),
            strict=True,
        )
    }


def practitioners_from_lake(lake: Any, year: int, level: str = "departement") -> dict[str, float]:
    """GPs of ``int.practitioners`` by territory (the ``density_gp`` indicator's numerator);
    régions in Open DAMIR codes."""
    table = _catalogue(lake, load_indicators(names=["density_gp"]), year)
    rows = _rows(table, indicator="density_gp", geo_level=level)
    if level == "region":
        out: dict[str, float] = {}
        for g, (n, _) in rows.items():
            key = damir_region_code(g)
            out[key] = out.get(key, 0.0) + n
        return out
    return {g: n for g, (n, _) in rows.items()}


def read_practitioners(path: str | Path, population: dict[str, float]) -> dict[str, float]:
    """Practitioners by territory from a CSV (``territory`` and ``practitioners``, or
    ``practitioners_per_100k`` converted with the territory's population)."""
    import pyarrow.csv as pacsv

    p = Path(path)
    try:
        head = p.read_text(encoding="utf-8").splitlines()[:1]
        sep = ";" if head and head[0].count(";") >= head[0].count(",") else ","
        t = pacsv.read_csv(
            p,
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(column_types={"territory": pa.string()}),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise TerritoryTableError(f"{p}: cannot read the practitioner file ({exc})") from exc
    cols = set(t.column_names)
    if "territory" not in cols or not cols & {"practitioners", "practitioners_per_100k"}:
        raise TerritoryTableError(
            f"{p}: a practitioner file has the columns territory and practitioners (or "
            f"practitioners_per_100k); found {sorted(cols)}"
        )
    per = "practitioners" not in cols
    col = "practitioners_per_100k" if per else "practitioners"
    values = dict(zip(t.column("territory").to_pylist(), t.column(col).to_pylist(), strict=True))
    missing = sorted(set(population) - set(values))
    if missing:
        raise TerritoryTableError(
            f"{p}: no practitioners for territory {missing[0]!r}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    return {g: float(values[g]) * (population[g] / 1e5 if per else 1.0) for g in population}


def territories_from_lake(
    lake: Any,
    year: int,
    *,
    natures: Sequence[str] = DEFAULT_LAKE_NATURES,
    practitioners: str | Path = "lake",
    accounting: dict[str, float] | None = None,
) -> pa.Table:
    """Département territory table of ``year`` (see the module docstring), with the
    age-structure controls ``age_share_under_15`` and ``age_share_65_plus``; ``accounting``
    receives the persons left out by the indicator machinery's rules and the consultations
    outside the denominator (no residence, fictitious NIR…)."""
    table = _catalogue(lake, [_consultation_spec(natures)], year, accounting)
    cons = _rows(
        table, indicator="supply_gp_consultations", geo_level="departement", age_level="all"
    )
    broad = table.filter(
        pa.array(
            (np.asarray(table.column("geo_level").to_pylist(), dtype=object) == "departement")
            & (np.asarray(table.column("age_level").to_pylist(), dtype=object) == "broad")
        )
    )
    young: dict[str, float] = {}
    old: dict[str, float] = {}
    for g, band, d in zip(
        broad.column("geo_code").to_pylist(),
        broad.column("age_band").to_pylist(),
        broad.column("denominator").to_pylist(),
        strict=True,
    ):
        if band == "00-14":
            young[g] = young.get(g, 0.0) + float(d or 0)
        elif band in ("65-74", "75-84", "85+"):
            old[g] = old.get(g, 0.0) + float(d or 0)
    geo = sorted(g for g, (_, d) in cons.items() if d > 0)
    pop = {g: cons[g][1] for g in geo}
    if str(practitioners) == "lake":
        prac_all = practitioners_from_lake(lake, year)
        prac = {g: prac_all.get(g, 0.0) for g in geo}
    else:
        prac = read_practitioners(practitioners, pop)
    return territory_table(
        pa.table(
            {
                "territory": geo,
                "consultations": [cons[g][0] for g in geo],
                "population": [pop[g] for g in geo],
                "practitioners": [prac[g] for g in geo],
                f"{AGE_SHARE_PREFIX}under_15": [young.get(g, 0.0) / pop[g] for g in geo],
                f"{AGE_SHARE_PREFIX}65_plus": [old.get(g, 0.0) / pop[g] for g in geo],
            }
        ),
        where=f"lake {lake.root}",
    )


def opendamir_relation(lake: Any, table: str | Path) -> str:
    """The SQL name of the Open DAMIR lines: a Parquet file/folder in the public layout
    (registered on the lake's connection) or a lake table (``opendamir.prestations``)."""
    path = Path(table)
    if path.exists():
        files = [path] if path.is_file() else sorted(path.rglob("*.parquet"))
        if not files:
            raise InvalidArgumentError(f"{path}: no Parquet file")
        arrow = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        lake.con.register_arrow("_supply_opendamir", arrow)
        return "_supply_opendamir"
    try:
        present = lake.has(str(table))
    except SndslabError:
        present = False
    if not present:
        raise InvalidArgumentError(
            f"the lake has no table {table}: ingest Open DAMIR files first (`sndslab ingest "
            "FOLDER --lake LAKE`), or pass a Parquet folder in the public layout (--table)"
        )
    return str(table)


def territories_from_opendamir(
    lake: Any,
    year: int,
    population: PopulationFile,
    *,
    table: str | Path = OPENDAMIR_TABLE,
    natures: Sequence[int] = DEFAULT_DAMIR_NATURES,
    specialties: Sequence[int] = DEFAULT_GP_SPECIALTIES,
    practitioners: str | Path = "lake",
) -> tuple[pa.Table, dict[str, float]]:
    """Région territory table of care year ``year`` and its accounting (acts kept, acts of
    unknown région left out). A région of the data missing from ``population`` is an error
    naming it."""
    if population.territory_level != "region":
        raise PopulationError("the Open DAMIR analysis needs a population file by région")
    rel = opendamir_relation(lake, table)
    nat = ", ".join(str(int(n)) for n in natures)
    spe = ", ".join(str(int(s)) for s in specialties)
    query = f"""SELECT CAST(BEN_RES_REG AS VARCHAR) AS territory,
            CAST(sum(PRS_ACT_QTE) AS DOUBLE) AS consultations
        FROM {rel} WHERE SOI_ANN = {int(year)} AND PRS_NAT IN ({nat})
          AND PSE_SPE_SNDS IN ({spe}) GROUP BY 1 ORDER BY 1"""
    rows = (lake.sql(query) if rel == str(table) else lake.con.sql(query)).to_arrow().to_pylist()
    unknown = sum(r["consultations"] for r in rows if r["territory"] in ("99", "0", None))
    cons = {
        r["territory"]: r["consultations"] for r in rows if r["territory"] not in ("99", "0", None)
    }
    if not cons:
        raise InvalidArgumentError(
            f"no GP consultation (PRS_NAT {nat}, PSE_SPE_SNDS {spe}) of care year {year}"
        )
    pop_t = population.to_arrow()
    by_terr: dict[str, dict[int, float]] = {}
    for t, y, band, n in zip(
        pop_t.column("territory").to_pylist(),
        pop_t.column("year").to_pylist(),
        pop_t.column("age_band").to_pylist(),
        pop_t.column("population").to_pylist(),
        strict=True,
    ):
        if y == year:
            d = by_terr.setdefault(t, {})
            d[band] = d.get(band, 0.0) + n
    missing = sorted(set(cons) - set(by_terr))
    if missing:
        raise PopulationError(
            f"the population file has no population for région {missing[0]!r} in {year}"
            + (f" (nor {missing[1:]})" if len(missing) > 1 else "")
            + f", a territory of the Open DAMIR data ({population.source})"
        )
    geo = sorted(cons)
    pop = {g: sum(by_terr[g].values()) for g in geo}
    if str(practitioners) == "lake":
        if not lake.has("events.events"):
            raise InvalidArgumentError(
                "Open DAMIR has no practitioner count: pass a practitioner file by région "
                "(--practitioners FILE.csv: territory;practitioners, e.g. DREES / RPPS GPs); "
                "'lake' needs a lake with DA_PRA_R and its events layer"
            )
        prac_all = practitioners_from_lake(lake, year, level="region")
        prac = {g: prac_all.get(g, 0.0) for g in geo}
    else:
        prac = read_practitioners(practitioners, pop)
    out = territory_table(
        pa.table(
            {
                "territory": geo,
                "consultations": [cons[g] for g in geo],
                "population": [pop[g] for g in geo],
                "practitioners": [prac[g] for g in geo],
                f"{AGE_SHARE_PREFIX}under_20": [by_terr[g].get(0, 0.0) / pop[g] for g in geo],
                f"{AGE_SHARE_PREFIX}60_plus": [
                    sum(by_terr[g].get(b, 0.0) for b in (60, 70, 80)) / pop[g] for g in geo
                ],
            }
        ),
        where="Open DAMIR",
    )
    return out, {"consultations": float(sum(cons.values())), "unknown_region": float(unknown)}


def add_controls(table: pa.Table, path: str | Path) -> pa.Table:
    """Join the control columns of a CSV (``territory`` + numeric columns) onto ``table``;
    a territory of ``table`` without a row in the file is an error naming it."""
    import pyarrow.csv as pacsv

    p = Path(path)
    try:
        head = p.read_text(encoding="utf-8").splitlines()[:1]
        sep = ";" if head and head[0].count(";") >= head[0].count(",") else ","
        extra = pacsv.read_csv(
            p,
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(column_types={"territory": pa.string()}),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise TerritoryTableError(f"{p}: cannot read the control file ({exc})") from exc
    if "territory" not in extra.column_names:
        raise TerritoryTableError(f"{p}: the control file needs a territory column")
    clash = sorted(set(extra.column_names) & set(table.column_names) - {"territory"})
    if clash:
        raise TerritoryTableError(f"{p}: control column(s) {clash} already in the table")
    index = {t: i for i, t in enumerate(extra.column("territory").to_pylist())}
    terr = table.column("territory").to_pylist()
    missing = [t for t in terr if t not in index]
    if missing:
        raise TerritoryTableError(f"{p}: no row for territory {missing[0]!r}")
    take = pa.array([index[t] for t in terr])
    out = table
    for name in extra.column_names:
        if name != "territory":
            out = out.append_column(name, extra.column(name).take(take))
    return territory_table(
        out.drop_columns(["consultations_per_affiliate", "practitioners_per_100k"]), where=str(p)
    )


def table_from_csv(path: str | Path) -> pa.Table:
    """:func:`sndslab.supply.read_territory_table` (a user's territory table)."""
    return read_territory_table(path)
