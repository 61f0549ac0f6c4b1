"""A released folder built directly through the gate from random counts (no lake content): the
dashboard's test fixture and benchmark input.

Counts are drawn per (département, year or month, broad age band, sex) from the départements'
populations (the synthetic generator's referential) scaled to ``persons``, then aggregated to
every margin (France, région, département; sex ``all``; age ``all``) exactly as
``sndslab.indicators.release_indicators`` lays its tables out, and released with
``sndslab.release.release`` (an empty lake holds the release log). The standardised rate is a
direct standardisation on the broad age bands (weights: the French age pyramid), so it is a
true function of the released crude counts.

Optionally, the pathway tables (``pathways__transitions``, ``pathways__sequences``) of random
``hip_fracture_65`` pathway trees (latest year, two régions): the trees are written as the
lake's ``marts.pathways`` (the table ``sndslab.pathways.compute_pathways`` writes) and
released by the real code path, ``sndslab.pathways.pathway_tables`` and the same gate call as
the indicators (suppression, linked tables and the audit are the gate's own).

This module is loaded by path (tests/dashboard/conftest.py, benchmarks/bench_dashboard.py).
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

import sndslab
from sndslab.indicators import load_indicators
from sndslab.indicators._release import (
    _with_crude,
    indicator_about,
    region_age_spec,
    territory_spec,
)
from sndslab.pathways import pathway_tables
from sndslab.release import release

BANDS = ("00-14", "15-44", "45-64", "65-74", "75+")
_BAND_LOW = (0, 15, 45, 65, 75, 200)
#: Départements with a planted tiny rate: their cells fall under the threshold (suppressed).
RARE = ("048",)
#: Yearly (monthly) share of persons of the numerator at ages 45-64, before the age gradient.
BASE_RATES = {"diabetes": 0.05, "mortality": 0.004, "gp_visits_monthly": 0.15}


def _geography() -> pd.DataFrame:
    text = resources.files("sndslab.synth").joinpath("data", "departements.csv").read_text("utf-8")
    geo = pd.DataFrame(list(csv.DictReader(io.StringIO(text))))
    geo["region"] = geo["region"].astype(int).astype(str)
    geo["population"] = geo["population"].astype(float)
    return geo[["snds_dpt", "region", "population"]].rename(columns={"snds_dpt": "departement"})


def _age_shares() -> np.ndarray:
    text = resources.files("sndslab.synth").joinpath("data", "age_pyramid.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    ages = np.array([int(r["age"]) for r in rows])
    out = np.zeros((len(BANDS), 2))
    for i in range(len(BANDS)):
        sel = (ages >= _BAND_LOW[i]) & (ages < _BAND_LOW[i + 1])
        out[i] = [
            sum(float(rows[j]["male"]) for j in np.flatnonzero(sel)),
            sum(float(rows[j]["female"]) for j in np.flatnonzero(sel)),
        ]
    return out / out.sum()


def _cells(
    rng: np.random.Generator,
    periods: list[str],
    persons: int,
    base: float,
    rare: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Finest cells: period × département × band × sex, with numerator ≤ denominator."""
    geo = _geography()
    shares = _age_shares()
    scale = persons / geo["population"].sum()
    age_rr = np.array([0.2, 0.6, 1.4, 2.6, 3.8])
    frames = []
    dept_rr = rng.lognormal(0.0, 0.25, len(geo))
    dept_rr[geo["departement"].isin(rare).to_numpy()] *= 0.05
    for p_i, period in enumerate(periods):
        for b, band in enumerate(BANDS):
            for s, sex in enumerate(("1", "2")):
                den = np.round(geo["population"].to_numpy() * scale * shares[b, s]).astype(int)
                p = np.clip(base * age_rr[b] * dept_rr * (1 + 0.03 * p_i), 0, 0.95)
                num = rng.binomial(den, p)
                frames.append(
                    pd.DataFrame(
                        {
                            "period": period,
                            "region": geo["region"],
                            "departement": geo["departement"],
                            "age_band": band,
                            "sex": sex,
                            "numerator_persons": num,
                            "numerator": num,
                            "denominator": den,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def _margins(cells: pd.DataFrame, keys: list[str], geo_levels: tuple[str, ...]) -> pd.DataFrame:
    out = []
    counts = ["numerator_persons", "numerator", "denominator"]
    for level in geo_levels:
        frame = cells.copy()
        if level in ("region", "france"):
            frame["departement"] = "ALL"
        if level == "france":
            frame["region"] = "ALL"
        for sex_all in (False, True):
            f = frame.copy()
            if sex_all:
                f["sex"] = "all"
            out.append(f.groupby(keys, as_index=False)[counts].sum())
    return pd.concat(out, ignore_index=True)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for c in ("numerator_persons", "numerator", "denominator"):
        i = table.schema.get_field_index(c)
        table = table.set_column(i, c, table.column(c).cast(pa.int64()))
    return table


def indicator_tables(
    name: str, years: tuple[int, ...], persons: int, seed: int, rare: tuple[str, ...] = RARE
) -> list[tuple[pa.Table, Any]]:
    spec = load_indicators(names=[name])[0]
    rng = np.random.default_rng(seed)
    monthly = spec.time.unit == "month"
    periods = (
        [f"{y}-{m:02d}" for y in years for m in range(1, 13)]
        if monthly
        else [str(y) for y in years]
    )
    base = BASE_RATES.get(name) or float(rng.uniform(0.02, 0.15))
    # planted small cells in yearly indicators only: a monthly series of small cells makes
    # the gate's secondary suppression far slower (one pattern per month)
    cells = _cells(rng, periods, persons, base, () if monthly else rare)
    keys = ["period", "region", "departement", "sex"]
    terr = _margins(cells, keys, ("departement", "region", "france")).sort_values(keys)
    terr = _with_crude(_arrow(terr), spec.unit)
    standardised = not monthly
    about = indicator_about(spec, standardised=False)
    if standardised:
        about = about.replace(
            "standardisation: none (crude rates)",
            "standardisation: direct on the broad age bands, weights the French age pyramid "
            "(std_rate; synthetic example folder); crude rates in rate",
        )
        weights = pd.Series(_age_shares().sum(axis=1), index=list(BANDS))
        by_band = _margins(cells, [*keys, "age_band"], ("departement", "region", "france"))
        by_band["w"] = by_band["age_band"].map(weights)
        by_band["r"] = np.where(
            by_band["denominator"] > 0,
            by_band["numerator"] / by_band["denominator"].clip(lower=1),
            0.0,
        )
        by_band["wr"] = by_band["w"] * by_band["r"]
        by_band["wv"] = (
            by_band["w"] ** 2 * by_band["numerator"] / by_band["denominator"].clip(lower=1) ** 2
        )
        std = by_band.groupby(keys, as_index=False)[["wr", "wv"]].sum()
        std["std_rate"] = (std["wr"] * spec.unit).round(3)
        half = 1.96 * np.sqrt(std["wv"]) * spec.unit
        std["std_lower"] = (std["std_rate"] - half).clip(lower=0).round(3)
        std["std_upper"] = (std["std_rate"] + half).round(3)
        frame = terr.to_pandas().merge(
            std[[*keys, "std_rate", "std_lower", "std_upper"]], on=keys, how="left"
        )
        terr = pa.Table.from_pandas(frame, preserve_index=False)
    t_spec = territory_spec(
        name, unit=spec.unit, standardised=standardised, persons=True, about=about
    )
    out = [(terr.select(t_spec.columns()), t_spec)]
    if not monthly:
        reg = _margins(
            cells, ["period", "region", "departement", "age_band", "sex"], ("region", "france")
        )
        reg_all = reg.copy()
        reg_all["age_band"] = "all"
        reg = pd.concat(
            [
                reg,
                reg_all.groupby(
                    ["period", "region", "departement", "age_band", "sex"], as_index=False
                )[["numerator_persons", "numerator", "denominator"]].sum(),
            ],
            ignore_index=True,
        )
        reg = reg.sort_values(["period", "region", "age_band", "sex"])
        r_spec = region_age_spec(name, unit=spec.unit, persons=True, about=about)
        out.append((_with_crude(_arrow(reg), spec.unit).select(r_spec.columns()), r_spec))
    return out


#: Share of each branch among its parent's persons (``path``: states of windows 1..j of the
#: shipped ``hip_fracture_65`` spec, so the dashboard shows its labels).
_PATHS = {
    "ssr": 0.4,
    "home": 0.5,
    "death": 0.1,
    "ssr > home": 0.7,
    "ssr > mco": 0.2,
    "ssr > death": 0.1,
    "home > home": 0.85,
    "home > mco": 0.15,
    "death > death": 1.0,
}


def _parent_of(path: str) -> str:
    return path.rsplit(" > ", 1)[0] if " > " in path else "ALL"


#: Régions of the pathway trees (Île-de-France, Occitanie: large and tiny départements); the
#: gate's suppression of the linked pathway tables costs ~8 s per year at all 101 départements.
PATHWAY_REGIONS = ("11", "76")


def _pathway_tree(years: tuple[int, ...], seed: int) -> pd.DataFrame:
    """Random ``marts.pathways`` rows of ``hip_fracture_65`` (the layout compute_pathways
    writes): a cohort per département of ``PATHWAY_REGIONS`` and year split along ``_PATHS``,
    with its région and France margins."""
    rng = np.random.default_rng(seed)
    geo = _geography()
    rows = []
    for year in years:
        for _, g in geo[geo["region"].isin(PATHWAY_REGIONS)].iterrows():
            counts = {"ALL": int(rng.poisson(g["population"] * 1.0e-4))}
            given: dict[str, int] = {}  # persons already given to the parent's children
            for path, share in _PATHS.items():
                parent = _parent_of(path)
                last = path == [p for p in _PATHS if _parent_of(p) == parent][-1]
                n = counts[parent] - given.get(parent, 0) if last else round(counts[parent] * share)
                counts[path] = n
                given[parent] = given.get(parent, 0) + n
            for path, n in counts.items():
                rows.append(
                    {
                        "year": year,
                        "geo_level": "departement",
                        "geo_code": g["departement"],
                        "region": g["region"],
                        "path": path,
                        "persons": n,
                    }
                )
    dept = pd.DataFrame(rows)
    keys = ["year", "region", "path"]
    reg = dept.groupby(keys, as_index=False)["persons"].sum()
    reg = reg.assign(geo_level="region", geo_code=reg["region"])
    fra = reg.groupby(["year", "path"], as_index=False)["persons"].sum()
    fra = fra.assign(geo_level="france", geo_code="FR", region=None)
    tree = pd.concat([fra, reg, dept], ignore_index=True)
    tree["pathway"] = "hip_fracture_65"
    tree["depth"] = np.where(tree["path"] == "ALL", 0, tree["path"].str.count(" > ") + 1)
    tree["state"] = np.where(tree["path"] == "ALL", "index", tree["path"].str.split(" > ").str[-1])
    columns = ["pathway", "year", "geo_level", "geo_code", "region", "depth", "path", "state"]
    return tree[[*columns, "persons"]]


def _write_pathways(lake: Path, tree: pd.DataFrame) -> None:
    """``tree`` as the ``marts.pathways`` table of ``lake`` (checked against its contract)."""
    from sndslab.lake import write_generation

    opened = sndslab.open_lake(lake)
    try:
        opened.con.register_arrow("_pw_example", pa.Table.from_pandas(tree, preserve_index=False))
        with write_generation(opened.paths, "marts", opened.con) as w:
            w.write(
                "pathways",
                """SELECT pathway, CAST(year AS BIGINT) AS year, geo_level, geo_code, region,
                CAST(depth AS BIGINT) AS depth, path, state, CAST(persons AS BIGINT) AS persons
                FROM _pw_example""",
            )
    finally:
        opened.close()


def build_released(
    out: Path,
    work: Path,
    *,
    indicators: tuple[str, ...] = ("diabetes", "mortality", "gp_visits_monthly"),
    years: tuple[int, ...] = (2019, 2020, 2021),
    persons: int = 300_000,
    seed: int = 7,
    pathways: bool = True,
    monthly_years: tuple[int, ...] | None = None,
    rare: tuple[str, ...] = RARE,
) -> Path:
    """Build the example released folder ``out`` (``work`` holds the empty lake of the gate's
    release log; ``monthly_years``: the years of monthly indicators, default ``years``;
    ``rare``: the départements whose yearly rates are planted tiny);
    returns ``out``."""
    lake = work / "lake"
    sndslab.open_lake(lake, create=True).close()
    tables: list[tuple[pa.Table, Any]] = []
    for i, name in enumerate(indicators):
        monthly = load_indicators(names=[name])[0].time.unit == "month"
        span = monthly_years if monthly and monthly_years else years
        tables += indicator_tables(name, span, persons, seed + i, rare)
    if pathways:
        _write_pathways(lake, _pathway_tree(years[-1:], seed))  # the latest year only
        tables += pathway_tables(lake)
    release(tables, out, lake=lake, requested_by="tests/dashboard/released_example.py")
    return out
