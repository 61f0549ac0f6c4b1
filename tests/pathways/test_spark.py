"""One implementation, two engines: the pathways' SQL run on Spark writes the same
``marts.pathways`` and ``marts.pathway_accounting`` rows as on DuckDB (the hand-made lake of
test_handmade, every state kind, exclusion rule and a merge)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import sndslab
from sndslab.pathways import compute_pathways

from .conftest import write_lake
from .test_handmade import EVENTS, PATIENTS


def _rows(lake: Path, table: str, order: str) -> list[dict[str, Any]]:
    with sndslab.open_lake(lake) as opened:
        return opened.sql(f"SELECT * FROM {table} ORDER BY {order}").to_arrow().to_pylist()


@pytest.mark.slow  # a Spark session: make test-slow (CI)
@pytest.mark.spark
def test_spark_writes_the_duckdb_rows(spark_engine: Any, tmp_path: Path) -> None:
    duck = write_lake(tmp_path / "duck", PATIENTS, EVENTS)
    spark = tmp_path / "spark"
    shutil.copytree(duck, spark)
    for min_persons in (1, 2):
        a = compute_pathways(duck, only=["hip_fracture_65"], min_persons=min_persons)
        b = compute_pathways(
            spark, only=["hip_fracture_65"], min_persons=min_persons, engine=spark_engine
        )
        assert a.to_dict() == b.to_dict()
        for table, order in (
            ("marts.pathways", "pathway, year, geo_level, geo_code, path"),
            ("marts.pathway_accounting", "pathway, year, item"),
        ):
            assert _rows(duck, table, order) == _rows(spark, table, order)
