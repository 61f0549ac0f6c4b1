"""One implementation, two engines: the catalogue's SQL run on Spark writes the same
``marts.indicators`` rows as on DuckDB (a subset covering every numerator source: events
persons with look-back and ALD intervals, events counts by month, deaths, practitioners,
readmissions, a shifted season), and :class:`IndicatorSet` passes the analysis conformance
checks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import sndslab
from sndslab.analysis.checks import analysis_checks
from sndslab.indicators import IndicatorSet, IndicatorsResult, compute_indicators
from sndslab.lake import Lake

SUBSET = [
    "diabetes", "gp_visits_monthly", "density_gp", "rehospitalisation_30d", "mortality",
    "influenza_vaccination_65", "chronic_kidney_disease",
]  # fmt: skip
KEY = ["indicator", "year", "month", "geo_level", "geo_code", "age_level", "age_band", "sex"]


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.sort_by([(k, "ascending") for k in KEY]).to_pylist()


@pytest.mark.parametrize(
    ("name", "check"), list(analysis_checks(IndicatorSet(only=["mortality", "density_gp"])))
)
def test_indicator_set_conformance_on_duckdb(opened: Lake, name: str, check: Any) -> None:
    check(opened)


@pytest.mark.slow  # Spark on the whole subset: make test-slow (CI)
@pytest.mark.spark
def test_spark_writes_the_same_rows(
    indicators_lake: tuple[Path, IndicatorsResult],
    opened: Lake,
    tmp_path: Path,
    spark_engine: Any,
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(indicators_lake[0], lake)
    result = compute_indicators(lake, only=SUBSET, engine=spark_engine)
    duck = {r.name: r for r in indicators_lake[1].runs}
    assert [r for r in result.runs] == [duck[n] for n in sorted(SUBSET)]
    with sndslab.open_lake(lake) as spark_side:
        spark = spark_side.table("marts.indicators").to_arrow()
        assert spark_side.manifest("marts").engine == "spark"
    names = ", ".join(f"'{n}'" for n in SUBSET)
    want = opened.sql(f"SELECT * FROM marts.indicators WHERE indicator IN ({names})").to_arrow()
    assert spark.schema == want.schema
    # the other indicators' rows are carried over from the DuckDB generation, unchanged
    assert spark.num_rows == opened.table("marts.indicators").count()
    mine = spark.filter(pc.is_in(spark["indicator"], pa.array(SUBSET)))
    assert mine.num_rows == want.num_rows > 0
    assert _rows(mine) == _rows(want)
