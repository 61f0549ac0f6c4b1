"""Declarative cohorts: YAML specs with a pydantic twin, built in the engine (DuckDB or Spark),
written to ``marts.cohorts`` with their attrition; the attrition's flowchart and a Table 1 with
standardised mean differences through the release gate; a readable Markdown description. See
docs/cohorts.md.

>>> spec = load_cohort("population_65_plus")
>>> spec.demographics.min_age, spec.observation.loss_after_days
(65, 365)
"""

from __future__ import annotations

from sndslab.cohorts._analysis import Cohort
from sndslab.cohorts._attrition import attrition_cells, flowchart_png, release_attrition
from sndslab.cohorts._build import (
    ATTRITION_SCHEMA,
    COHORT_COLUMNS,
    CohortAccountingError,
    CohortEmptyError,
    CohortResult,
    build_cohort,
    population_step,
)
from sndslab.cohorts._command import BuildOutcome, load_any, run_build
from sndslab.cohorts._describe import describe
from sndslab.cohorts._smd import smd_binary, smd_categorical, smd_continuous
from sndslab.cohorts._spec import (
    CARE_CATEGORIES,
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
from sndslab.cohorts._table_one import (
    Characteristic,
    ComparisonSpec,
    TableOne,
    load_comparison,
    table_one,
    table_one_tables,
)
from sndslab.cohorts._write import COHORT_TABLES, read_attrition, read_cohort, write_cohorts

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "ATTRITION_SCHEMA",
    "BuildOutcome",
    "CARE_CATEGORIES",
    "COHORT_COLUMNS",
    "COHORT_TABLES",
    "Characteristic",
    "Cohort",
    "CohortAccountingError",
    "CohortEmptyError",
    "CohortResult",
    "CohortSpec",
    "CohortSpecError",
    "ComparisonSpec",
    "ConceptSet",
    "Criterion",
    "Demographics",
    "IndexSpec",
    "Observation",
    "SetOperationSpec",
    "TableOne",
    "attrition_cells",
    "build_cohort",
    "builtin_cohorts",
    "describe",
    "flowchart_png",
    "load_any",
    "load_cohort",
    "load_comparison",
    "population_step",
    "read_attrition",
    "read_cohort",
    "release_attrition",
    "run_build",
    "smd_binary",
    "smd_categorical",
    "smd_continuous",
    "table_one",
    "table_one_tables",
    "write_cohorts",
]
