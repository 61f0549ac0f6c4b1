"""The département analysis and the population file give the same rows on Spark as on DuckDB
(the session's 2,000-person lake; Spark in local mode: slow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sndslab
from sndslab.supply import SupplyDemand, population_from_lake

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_same_territories_and_coefficients_on_both_engines(
    supply_lake: Path, spark_engine: Any
) -> None:
    with sndslab.open_lake(supply_lake, spark_engine) as lake:
        spark = SupplyDemand().fit(lake)
        spark_pop = population_from_lake(lake, [2020])
    with sndslab.open_lake(supply_lake) as lake:
        duck = SupplyDemand().fit(lake)
        duck_pop = population_from_lake(lake, [2020])
    assert spark.territories_.sort_by("territory").equals(duck.territories_.sort_by("territory"))
    for model in duck.fits_:
        np.testing.assert_allclose(spark.fits_[model].coef, duck.fits_[model].coef, atol=1e-12)
    assert spark_pop == duck_pop
