"""Declarative cohorts: YAML specs with a pydantic twin, built in the engine, written to
``marts.cohorts`` with their attrition; Table 1 with standardised mean differences; a readable
Markdown description. See docs/cohorts.md.

>>> spec = load_cohort("population_65_plus")
>>> spec.demographics.min_age, spec.observation.loss_after_days
(65, 365)
"""

from __future__ import annotations

from sndslab.cohorts._build import (
    ATTRITION_SCHEMA,
    COHORT_COLUMNS,
    CohortAccountingError,
    CohortEmptyError,
    CohortResult,
    build_cohort,
)
from sndslab.cohorts._spec import (
    CohortSpec,
    CohortSpecError,
    ConceptSet,
    Criterion,
    Demographics,
    IndexSpec,
    Observation,
    SetOperationSpec,
    builtin_cohorts,
    load_cohort,
)
from sndslab.cohorts._write import COHORT_TABLES, read_attrition, read_cohort, write_cohorts

__all__ = [
    "ATTRITION_SCHEMA",
    "COHORT_COLUMNS",
    "COHORT_TABLES",
    "CohortAccountingError",
    "CohortEmptyError",
    "CohortResult",
    "CohortSpec",
    "CohortSpecError",
    "ConceptSet",
    "Criterion",
    "Demographics",
    "IndexSpec",
    "Observation",
    "SetOperationSpec",
    "build_cohort",
    "builtin_cohorts",
    "load_cohort",
    "read_attrition",
    "read_cohort",
    "write_cohorts",
]
