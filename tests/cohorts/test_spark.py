"""One implementation, two engines: cohorts built on Spark (the same SQL, transpiled) have the
same rows and the same attrition as on DuckDB: a fixed-date population with loss to follow-up,
an incident-event cohort with a look-back exclusion, concept descendants (list lambdas), a
windowed count and a set operation; and the same Table 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import sndslab
from sndslab.cohorts import ComparisonSpec, build_cohort, load_cohort, table_one
from sndslab.cohorts._spec import parse_cohort

WINDOWED = {
    "name": "n05_twice",
    "concept_sets": {
        "n05": {"codes": ["ATC//N05"], "descendants": True, "categories": ["dispensing"]},
        "visit": {"categories": ["visit"]},
    },
    "index": {"concept_set": "n05", "occurrence": "all"},
    "demographics": {"min_age": 50, "sex": [2]},
    "observation": {"study_start": "2019-01-01", "study_end": "2020-12-31",
                    "loss_after_days": 120},
    "inclusion": [{"name": "two", "concept_set": "n05", "window": [-90, 0], "min_count": 2,
                   "count": "days"}],
    "exclusion": [{"name": "no visit", "concept_set": "visit", "window": [-60, -1]}],
}  # fmt: skip


def _specs(tmp: Path) -> list[Any]:
    (tmp / "union.yaml").write_text(
        "name: pop_or_hip\noperation: union\nof: [population_65_plus, hip_fracture_65_plus]\n",
        encoding="utf-8",
    )
    return [
        load_cohort("population_65_plus"),
        load_cohort("hip_fracture_65_plus"),
        parse_cohort(WINDOWED),
        load_cohort(tmp / "union.yaml"),
    ]


def _run(lake: sndslab.Lake, spec: Any) -> tuple[pa.Table, pa.Table]:
    result = build_cohort(lake, spec, allow_empty=True)
    try:
        return result.table, result.all_attrition()
    finally:
        result.drop()


@pytest.mark.slow  # a Spark session: make test-slow (CI)
@pytest.mark.spark
def test_spark_builds_the_duckdb_cohorts(
    cohort_lake: Path, spark_engine: Any, tmp_path: Path
) -> None:
    specs = _specs(tmp_path)
    with sndslab.open_lake(cohort_lake) as duck:
        want = [_run(duck, s) for s in specs]
    with sndslab.open_lake(cohort_lake, spark_engine) as spark:
        got = [_run(spark, s) for s in specs]
    for spec, (w_rows, w_att), (g_rows, g_att) in zip(specs, want, got, strict=True):
        assert g_rows.num_rows == w_rows.num_rows, spec.name
        assert g_rows.cast(w_rows.schema).to_pylist() == w_rows.to_pylist(), spec.name
        assert g_att.to_pylist() == w_att.to_pylist(), spec.name
    assert want[2][0].num_rows > 10  # the windowed cohort is not empty


COMPARISON = {
    "name": "cmp",
    "groups": ["population_65_plus", "hip_fracture_65_plus"],
    "concept_sets": {"antidepressants": {"code_set": "antidepressants"}},
    "characteristics": [{"name": "antidepressant", "concept_set": "antidepressants"}],
}


def _table_one(lake: sndslab.Lake) -> list[dict[str, Any]]:
    comparison = ComparisonSpec.model_validate(COMPARISON)
    groups = {s.name: build_cohort(lake, s) for s in comparison.group_specs()}
    try:
        rows = table_one(lake, comparison, groups).rows
    finally:
        for r in groups.values():
            r.drop()
    return rows.sort_by([("variable", "ascending"), ("level", "ascending"),
                         ("group", "ascending")]).to_pylist()  # fmt: skip


@pytest.mark.slow  # a Spark session: make test-slow (CI)
@pytest.mark.spark
def test_spark_computes_the_duckdb_table_one(cohort_lake: Path, spark_engine: Any) -> None:
    with sndslab.open_lake(cohort_lake) as duck:
        want = _table_one(duck)
    with sndslab.open_lake(cohort_lake, spark_engine) as spark:
        got = _table_one(spark)
    assert len(got) == len(want) > 10
    for g, w in zip(got, want, strict=True):
        for key in ("group", "variable", "level", "persons", "group_persons"):
            assert g[key] == w[key]
        for key in ("percent", "mean", "sd"):
            if w[key] is None:
                assert g[key] is None
            else:
                assert g[key] == pytest.approx(w[key], rel=1e-9, nan_ok=True)
