"""Persons and events per calendar year, sex, age band and territory, for a set of codes.

The simplest aggregate of the event table, and the reference implementation of the analytic
protocol: "how many persons had a dispensing of an ATC A10 drug (antidiabetics) each year, by
département, sex and age band?".

>>> EventCounts(codes=["ATC//A10"], by=("year", "sex"), age_bands=(0, 65))
EventCounts(codes=['ATC//A10'], category=None, by=('year', 'sex'), age_bands=(0, 65))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import pyarrow as pa

from sndslab.analysis._base import Analysis, ReleaseCandidate
from sndslab.errors import InvalidArgumentError

__all__ = ["EventCounts"]

#: The dimensions an EventCounts can be broken down by, and their SQL.
DIMENSIONS: dict[str, str] = {
    "year": "CAST(year(e.start) AS BIGINT)",
    "sex": "CAST(p.sex AS BIGINT)",
    "age_band": "",  # filled from age_bands (see _age_band_sql)
    "departement": "p.residence_dpt",
    "region": "p.residence_region",
}


class EventCounts(Analysis):
    """Distinct persons and events with a code starting with one of ``codes`` (and of
    ``category`` when given), per cell of the ``by`` dimensions (``year``, ``sex``,
    ``age_band``, ``departement``, ``region``). Age is reached in the event's year; bands are
    ``[age_bands[i], age_bands[i+1])``, the last open.

    Results: ``counts_`` (Arrow table: the dimensions, ``persons``, ``events``), ``persons_``
    (distinct persons over all cells), ``engine_`` (the engine that computed them).
    """

    def __init__(
        self,
        codes: Sequence[str],
        category: str | None = None,
        by: Sequence[str] = ("year",),
        age_bands: Sequence[int] = (0, 18, 45, 65, 75, 85),
    ) -> None:
        self.codes = codes
        self.category = category
        self.by = by
        self.age_bands = age_bands

    def _validate(self) -> None:
        if not self.codes:
            raise InvalidArgumentError("EventCounts needs at least one code prefix")
        unknown = [d for d in self.by if d not in DIMENSIONS]
        if unknown:
            raise InvalidArgumentError(
                f"unknown dimension(s) {unknown}: choose among {', '.join(DIMENSIONS)}"
            )
        bands = list(self.age_bands)
        if not bands or bands != sorted(set(bands)) or bands[0] != 0:
            raise InvalidArgumentError("age_bands must be increasing and start at 0")

    def _age_band_sql(self) -> str:
        bands = list(self.age_bands)
        age = "(year(e.start) - year(p.birth_date))"
        whens = []
        for lo, hi in zip(bands, [*bands[1:], None], strict=True):
            label = f"{lo}-{hi - 1}" if hi is not None else f"{lo}+"
            cond = f"{age} >= {lo}" + (f" AND {age} < {hi}" if hi is not None else "")
            whens.append(f"WHEN {cond} THEN '{label}'")
        return f"CASE {' '.join(whens)} END"

    def fit(self, lake: Any) -> Self:
        """Count on ``lake`` (an opened :class:`sndslab.lake.Lake`, either engine)."""
        self._validate()
        codes = " OR ".join(
            "starts_with(e.code, '" + c.replace("'", "''") + "')" for c in self.codes
        )
        where = f"({codes})"
        if self.category is not None:
            where += " AND e.category = '" + self.category.replace("'", "''") + "'"
        sqls = {**DIMENSIONS, "age_band": self._age_band_sql()}
        dims = ", ".join(f"{sql} AS {name}" for name, sql in sqls.items())
        cols = ", ".join(self.by)
        query = f"""
            WITH x AS (
                SELECT e.person_id, {dims}
                FROM events.events e JOIN events.patients p USING (person_id)
                WHERE {where})
            SELECT {cols + ", " if cols else ""}count(DISTINCT person_id) AS persons,
                   count(*) AS events
            FROM x {"GROUP BY " + cols if cols else ""}
            ORDER BY {cols or "persons"}"""
        self.counts_ = lake.sql(query).to_arrow()
        self.persons_ = int(
            lake.sql(f"SELECT count(DISTINCT e.person_id) AS n FROM events.events e WHERE {where}")
            .to_arrow()["n"][0]
            .as_py()
        )
        self.engine_ = lake.engine
        return self

    def summary(self) -> pa.Table:
        """One row per cell: the ``by`` dimensions, ``persons``, ``events``."""
        self._check_fitted()
        return self.counts_

    def to_release(self) -> ReleaseCandidate:
        self._check_fitted()
        return ReleaseCandidate(
            table=self.counts_,
            dimensions=tuple(self.by),
            count_column="persons",
            measures=("events",),
            title=f"Persons with {', '.join(self.codes)}",
            meta={"codes": list(self.codes), "category": self.category},
        )
