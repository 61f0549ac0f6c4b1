"""The catalogue as an analysis (:class:`sndslab.analysis.Analysis`): compute without writing.

>>> IndicatorSet(only=["diabetes"], years=[2020])
IndicatorSet(only=['diabetes'], years=[2020])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import pyarrow as pa

from sndslab.analysis import Analysis, ReleaseCandidate
from sndslab.indicators._compute import INDICATORS_ORDER, run_catalogue
from sndslab.indicators._spec import load_indicators
from sndslab.indicators._sql import OUTPUT_COLUMNS

__all__ = ["IndicatorSet"]

#: Columns of a release candidate that identify a cell.
DIMENSIONS: tuple[str, ...] = (
    "indicator", "year", "month", "period_start", "period_end", "geo_level", "geo_code",
    "region", "age_level", "age_band", "age_broad", "sex", "unit",
)  # fmt: skip


class IndicatorSet(Analysis):
    """Indicators of the catalogue (``only``: their names, default all) for ``years``
    (default: the lake's data years), computed on a lake opened on either engine.

    Results: ``table_`` (Arrow, the columns of ``marts.indicators``, sorted), ``runs_`` (per
    indicator: periods computed or skipped, accounting), ``data_years_``, ``engine_``.
    """

    def __init__(self, only: Sequence[str] | None = None, years: Sequence[int] | None = None):
        self.only = only
        self.years = years

    def fit(self, lake: Any) -> Self:
        specs = load_indicators(names=list(self.only) if self.only is not None else None)
        run, results, _, window = run_catalogue(lake.con, lake.paths, specs, self.years)
        try:
            parts = [r for _, r, _ in results if r is not None]
            cols = ", ".join(n for n, _ in OUTPUT_COLUMNS)
            if parts:
                union = " UNION ALL ".join(f"SELECT {cols} FROM {r}" for r in parts)
                order = ", ".join(f"{c} NULLS FIRST" for c in INDICATORS_ORDER)
                table = lake.con.sql(f"SELECT * FROM ({union}) u ORDER BY {order}").to_arrow()
            else:
                table = lake.con.sql(f"SELECT {cols} FROM {run.empty()} e").to_arrow()
        finally:
            run.drop_all()
        self.table_ = table
        self.runs_ = [rec for _, _, rec in results]
        self.data_years_ = window
        self.engine_ = lake.engine
        return self

    def summary(self) -> pa.Table:
        """One row per indicator × period × cell (the columns of ``marts.indicators``)."""
        self._check_fitted()
        return self.table_

    def to_release(self) -> ReleaseCandidate:
        self._check_fitted()
        measures = tuple(
            n for n, _ in OUTPUT_COLUMNS if n not in DIMENSIONS and n != "numerator_persons"
        )
        return ReleaseCandidate(
            table=self.table_,
            dimensions=DIMENSIONS,
            count_column="numerator_persons",
            measures=measures,
            title="Indicator catalogue (crude rates)",
            meta={"indicators": sorted({r.name for r in self.runs_})},
        )
