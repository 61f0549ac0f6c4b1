"""``Cohort`` follows the analytic base protocol (the conformance suite of
:mod:`sndslab.analysis.checks`) on DuckDB; its release candidate is the attrition's cells."""

from __future__ import annotations

from typing import Any

import pytest

from sndslab.analysis.checks import analysis_checks
from sndslab.cohorts import Cohort
from sndslab.lake import Lake


@pytest.mark.parametrize(("name", "check"), list(analysis_checks(Cohort("hip_fracture_65_plus"))))
def test_cohort_conformance_on_duckdb(opened: Lake, name: str, check: Any) -> None:
    check(opened)


def test_cohort_release_candidate_is_the_attrition(opened: Lake) -> None:
    fitted = Cohort("population_65_plus").fit(opened)
    candidate = fitted.to_release()
    nodes = candidate.table.column("node").to_pylist()
    steps = fitted.summary().num_rows
    assert nodes[0] == "0" and len(nodes) == 1 + 2 * steps
    counts = dict(zip(nodes, candidate.table.column("persons").to_pylist(), strict=True))
    for k in range(1, steps + 1):
        parent = counts["0"] if k == 1 else counts[f"{k - 1}.after"]
        assert counts[f"{k}.excluded"] + counts[f"{k}.after"] == parent
    assert fitted.persons_ == counts[f"{steps}.after"] == fitted.table_.num_rows
