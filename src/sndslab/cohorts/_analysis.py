"""A cohort as an analysis of the base protocol (:mod:`sndslab.analysis`): the constructor
stores the spec, ``fit(lake)`` builds it on either engine, ``summary()`` is the attrition and
``to_release()`` its person-count cells for the release gate.

>>> Cohort("population_65_plus").get_params()
{'spec': 'population_65_plus', 'allow_empty': False}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import pyarrow as pa

from sndslab.analysis import Analysis, ReleaseCandidate
from sndslab.cohorts._attrition import attrition_cells
from sndslab.cohorts._build import build_cohort
from sndslab.cohorts._spec import Spec

__all__ = ["Cohort"]


class Cohort(Analysis):
    """Build ``spec`` (a spec, a YAML path or a built-in name) on a lake.

    Fitted attributes: ``table_`` (the cohort rows, :data:`COHORT_COLUMNS`; person ids: stays
    in the process), ``attrition_``, ``persons_``, ``notes_``.
    """

    def __init__(self, spec: Spec | str | Path, allow_empty: bool = False) -> None:
        self.spec = spec
        self.allow_empty = allow_empty

    def fit(self, lake: Any) -> Self:
        result = build_cohort(lake, self.spec, allow_empty=self.allow_empty)
        try:
            self.table_ = result.table
            self.attrition_ = result.attrition
            self.persons_ = result.persons
            self.notes_ = list(result.notes)
        finally:
            result.drop()
        return self

    def summary(self) -> pa.Table:
        """The attrition: one row per step (distinct persons before, excluded, after)."""
        self._check_fitted()
        return self.attrition_

    def to_release(self) -> ReleaseCandidate:
        """The attrition as person-count cells (``node``: ``0``, ``k.excluded``, ``k.after``)."""
        self._check_fitted()
        table, spec = attrition_cells(self.attrition_)
        return ReleaseCandidate(
            table=table,
            dimensions=("node",),
            count_column="persons",
            title=spec.description,
            meta={"release_spec": spec.model_dump()},
        )
