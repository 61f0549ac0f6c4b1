"""``SupplyDemand``: GP consultations per affiliate against GP density, by territory (the
2015 Open DAMIR hackathon's question), as an analysis of :mod:`sndslab.analysis`.

Three linear models over territories (ordinary least squares, :func:`sndslab.supply.ols`):

* ``density``: consultations per affiliate ~ practitioners per 100,000 / 100;
* ``density_age``: + the age-structure controls (the ``age_share_*`` columns: shares of the
  population by age band);
* ``density_age_controls``: + the further controls the user passes (only when there are).

The slope of ``practitioners_per_100`` reads "extra consultations per affiliate per year for
+100 GPs per 100,000 inhabitants", the hackathon's unit (+0.9 crude, +0.5 with age, 2013).
Territories of fewer than ``min_persons`` affiliated persons (the release gate's threshold)
are left out of the models and counted: the models see only the territories the gate releases.

>>> SupplyDemand(source="table", table="territories.csv")  # doctest: +ELLIPSIS
SupplyDemand(source='table', year=None, table='territories.csv', ..., level=0.95)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pyarrow as pa

from sndslab.analysis import Analysis, ReleaseCandidate
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.indicators import data_years
from sndslab.lake import relation
from sndslab.release import DEFAULT_THRESHOLD
from sndslab.supply._ols import OLSFit, ols
from sndslab.supply._population import population_from_lake, read_population
from sndslab.supply._sources import (
    DEFAULT_DAMIR_NATURES,
    DEFAULT_LAKE_NATURES,
    OPENDAMIR_TABLE,
    add_controls,
    territories_from_lake,
    territories_from_opendamir,
)
from sndslab.supply._territory import AGE_SHARE_PREFIX, REQUIRED_COLUMNS, read_territory_table

__all__ = ["DENSITY_TERM", "MODELS", "SupplyDemand"]

Source = Literal["lake", "opendamir", "table"]
#: Name of the density regressor (practitioners per 100,000, divided by 100).
DENSITY_TERM = "practitioners_per_100"
MODELS: tuple[str, ...] = ("density", "density_age", "density_age_controls")
_DERIVED = ("consultations_per_affiliate", "practitioners_per_100k")


class SupplyDemand(Analysis):
    """Supply versus consumption by territory (see the module docstring).

    ``source``: ``"lake"`` (départements from the lake's DCIR claims and practitioners),
    ``"opendamir"`` (régions from ``opendamir.prestations``, or from the Parquet folder
    ``table``, with the ``population`` file), ``"table"`` (the territory CSV ``table``).
    ``year``: the care year (default: the last data year of the lake, or the table's).
    ``practitioners``: ``"lake"`` (DA_PRA_R) or a CSV of practitioners by territory.
    ``controls``: control columns (default: every extra column of a ``table`` source, or of
    ``control_file``); ``natures``: NGAP keys (lake) or PRS_NAT codes (Open DAMIR).

    Results: ``territories_`` (Arrow: the territory table, with ``in_model``), ``fits_``
    (model → :class:`OLSFit`), ``controls_``, ``age_controls_``, ``accounting_``.
    """

    def __init__(
        self,
        source: Source = "lake",
        year: int | None = None,
        table: str | Path | None = None,
        population: str | Path | None = None,
        practitioners: str | Path = "lake",
        controls: Sequence[str] | None = None,
        control_file: str | Path | None = None,
        natures: Sequence[str] | Sequence[int] | None = None,
        min_persons: int = DEFAULT_THRESHOLD,
        level: float = 0.95,
    ):
        self.source = source
        self.year = year
        self.table = table
        self.population = population
        self.practitioners = practitioners
        self.controls = controls
        self.control_file = control_file
        self.natures = natures
        self.min_persons = min_persons
        self.level = level

    # ---- building the territory table ---------------------------------------------------------
    def _year(self, lake: Any) -> int:
        if self.year is not None:
            return int(self.year)
        return int(data_years(lake.con, relation(lake.con, lake.paths, "events.events"))[1])

    def _territories(self, lake: Any) -> tuple[pa.Table, dict[str, float]]:
        if self.source == "table":
            if self.table is None:
                raise InvalidArgumentError("source 'table' needs a territory table (--table)")
            return read_territory_table(self.table), {}
        if self.source == "lake":
            if not lake.has("events.events"):
                raise InvalidArgumentError(
                    "the lake has no events layer: run `sndslab events LAKE` first"
                )
            year = self._year(lake)
            natures = tuple(str(n) for n in (self.natures or DEFAULT_LAKE_NATURES))
            acc: dict[str, float] = {"year": float(year)}
            t = territories_from_lake(
                lake, year, natures=natures, practitioners=self.practitioners, accounting=acc
            )
            return t, acc
        if self.source == "opendamir":
            if self.population is None:
                raise InvalidArgumentError(
                    "the Open DAMIR analysis needs a population file by région (--population; "
                    "or 'lake' to derive it from a synthetic lake's beneficiaries)"
                )
            if self.year is None:
                raise InvalidArgumentError("the Open DAMIR analysis needs a care year (--year)")
            pop = (
                population_from_lake(lake, [int(self.year)])
                if str(self.population) == "lake"
                else read_population(self.population)
            )
            codes = tuple(int(n) for n in (self.natures or DEFAULT_DAMIR_NATURES))
            t, acc = territories_from_opendamir(
                lake,
                int(self.year),
                pop,
                table=self.table or OPENDAMIR_TABLE,
                natures=codes,
                practitioners=self.practitioners,
            )
            return t, {"year": float(self.year), **acc}
        raise InvalidArgumentError(
            f"unknown source {self.source!r}: 'lake', 'opendamir' or 'table'"
        )

    # ---- fit ----------------------------------------------------------------------------------
    def fit(self, lake: Any) -> Self:
        table, accounting = self._territories(lake)
        if self.control_file is not None:
            table = add_controls(table, self.control_file)
        names = table.column_names
        age = [c for c in names if c.startswith(AGE_SHARE_PREFIX)]
        extra = [c for c in names if c not in (*REQUIRED_COLUMNS, *_DERIVED, *age)]
        if self.controls is None:
            controls = extra
        else:
            controls = list(self.controls)
            unknown = [c for c in controls if c not in names or c in REQUIRED_COLUMNS]
            if unknown:
                raise InvalidArgumentError(
                    f"control column(s) {unknown} are not control columns of the territory "
                    f"table (controls available: {extra + age})"
                )
            age = [a for a in age if a not in controls]
        pop = np.asarray(table.column("population").to_numpy(), dtype=np.float64)
        keep = pop >= self.min_persons
        table = table.append_column("in_model", pa.array(keep))
        sub = table.filter(pa.array(keep))

        def col(name: str) -> np.ndarray:
            return np.asarray(sub.column(name).to_numpy(), dtype=np.float64)

        y = col("consultations_per_affiliate")
        density = {DENSITY_TERM: col("practitioners_per_100k") / 100.0}
        specs: dict[str, dict[str, np.ndarray]] = {"density": density}
        if age:
            specs["density_age"] = {**density, **{a: col(a) for a in age}}
        if controls:
            specs["density_age_controls"] = {
                **density,
                **{a: col(a) for a in age},
                **{c: col(c) for c in controls},
            }
        fits: dict[str, OLSFit] = {}
        for model, regressors in specs.items():
            try:
                fits[model] = ols(y, regressors, level=self.level)
            except SndslabError as exc:
                raise InvalidArgumentError(f"model {model}: {exc}") from exc
        self.territories_ = table
        self.fits_ = fits
        self.controls_ = controls
        self.age_controls_ = age
        self.accounting_ = {
            **accounting,
            "territories": float(table.num_rows),
            "territories_in_model": float(keep.sum()),
            "territories_below_min_persons": float((~keep).sum()),
            "persons_in_model": float(pop[keep].sum()),
        }
        return self

    # ---- results ------------------------------------------------------------------------------
    def slope(self, model: str = "density_age") -> dict[str, float]:
        """The density slope of ``model`` (estimate, se, lower, upper)."""
        self._check_fitted()
        if model not in self.fits_:
            raise InvalidArgumentError(f"model {model!r} not fitted; fitted: {list(self.fits_)}")
        return self.fits_[model].term(DENSITY_TERM)

    def summary(self) -> pa.Table:
        """One row per model × term: ``estimate``, ``se``, ``lower``, ``upper`` (the CI at
        ``level``), ``p_value``, ``territories``, ``persons`` (in the model), ``r2``."""
        self._check_fitted()
        persons = round(self.accounting_["persons_in_model"])
        rows: dict[str, list[Any]] = {
            k: []
            for k in (
                "model",
                "term",
                "estimate",
                "se",
                "lower",
                "upper",
                "p_value",
                "territories",
                "persons",
                "r2",
            )
        }
        for model, fit in self.fits_.items():
            for j, term in enumerate(fit.names):
                rows["model"].append(model)
                rows["term"].append(term)
                rows["estimate"].append(float(fit.coef[j]))
                rows["se"].append(float(fit.se[j]))
                rows["lower"].append(float(fit.lower[j]))
                rows["upper"].append(float(fit.upper[j]))
                rows["p_value"].append(float(fit.p_value[j]))
                rows["territories"].append(fit.n)
                rows["persons"].append(persons)
                rows["r2"].append(float(fit.r2))
        return pa.table(rows)

    def territory_candidate(self) -> ReleaseCandidate:
        """The territory table as a release candidate: one cell per territory, counted on its
        affiliated persons (``persons``)."""
        self._check_fitted()
        t = self.territories_
        persons = np.round(np.asarray(t.column("population").to_numpy(), np.float64))
        measures = [c for c in t.column_names if c not in ("territory", "population", "in_model")]
        table = pa.table(
            {
                "territory": t.column("territory"),
                "persons": pa.array(persons.astype(np.int64)),
                **{m: t.column(m) for m in measures},
            }
        )
        return ReleaseCandidate(
            table=table,
            dimensions=("territory",),
            count_column="persons",
            measures=tuple(measures),
            title="GP consultations per affiliate and GP density by territory",
            meta={"source": self.source},
        )

    def to_release(self) -> ReleaseCandidate:
        """The coefficients, one cell per ``coefficient`` (``model:term``: a single dimension,
        so that the gate adds no cell for a term a model does not have), counted on the persons
        of the model's territories; the territory table is :meth:`territory_candidate`."""
        s = self.summary()
        key = [
            f"{m}:{t}"
            for m, t in zip(
                s.column("model").to_pylist(), s.column("term").to_pylist(), strict=True
            )
        ]
        s = s.drop_columns(["model", "term"]).add_column(0, "coefficient", pa.array(key))
        return ReleaseCandidate(
            table=s,
            dimensions=("coefficient",),
            count_column="persons",
            measures=("estimate", "se", "lower", "upper", "p_value", "territories", "r2"),
            title="OLS of GP consultations per affiliate on GP density per 100,000 / 100",
            meta={"source": self.source, "level": self.level},
        )
