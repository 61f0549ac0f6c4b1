"""Tables for the release gate's tests: realistic counts of persons by département, région,
age band and sex, aggregated with DuckDB from a generated population (skewed département sizes,
a condition whose prevalence rises with age), margins by GROUPING SETS."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import pyarrow as pa
import pytest

from sndslab.release import TableSpec

GEO_SEX_AGE = TableSpec.model_validate(
    {
        "name": "treated_condition_persons",
        "count": "n_persons",
        "dimensions": [
            {
                "name": "geo",
                "levels": [
                    {"column": "region", "total": "ALL"},
                    {"column": "departement", "total": "ALL"},
                ],
            },
            {"name": "age", "levels": [{"column": "age_band", "total": "ALL"}]},
            {"name": "sex", "levels": [{"column": "sex", "total": "0"}]},
        ],
        "measures": [{"column": "amount", "kind": "amount"}],
    }
)


def geo_table(
    persons: int,
    *,
    seed: float = 0.25,
    departements: int = 24,
    bands: int = 6,
    prevalence: float = 0.01,
) -> pa.Table:
    """Counts of persons with a condition by région → département × age band × sex, margins
    included (one DuckDB query; grouping sets give the margins)."""
    con = duckdb.connect()
    try:
        con.execute(f"SELECT setseed({seed})").fetchall()
        return con.sql(
            f"""
            WITH p AS (
              SELECT i,
                     CAST(floor(pow(random(), 2.5) * {departements}) AS INTEGER) AS d,
                     CAST(floor(random() * {bands}) AS INTEGER) AS a,
                     CASE WHEN random() < 0.52 THEN '2' ELSE '1' END AS sex,
                     random() AS u, random() AS m
              FROM range({persons}) t(i)
            ), c AS (
              SELECT i, lpad(CAST(10 + d AS VARCHAR), 2, '0') AS departement,
                     'R' || CAST(d // 4 AS VARCHAR) AS region,
                     'A' || lpad(CAST(a AS VARCHAR), 2, '0') AS age_band, sex,
                     u < {prevalence} * (0.3 + a) AS cond, 100 + 900 * m AS spent
              FROM p
            )
            SELECT coalesce(region, 'ALL') AS region, coalesce(departement, 'ALL') AS departement,
                   coalesce(age_band, 'ALL') AS age_band, coalesce(sex, '0') AS sex,
                   count(DISTINCT i) FILTER (WHERE cond) AS n_persons,
                   coalesce(sum(spent) FILTER (WHERE cond), 0) AS amount
            FROM c
            GROUP BY ROLLUP (region, departement), CUBE (age_band), CUBE (sex)
            ORDER BY ALL
            """
        ).to_arrow_table()
    finally:
        con.close()


@pytest.fixture(scope="session")
def realistic() -> pa.Table:
    return geo_table(60_000)


@pytest.fixture(scope="session")
def geo_spec() -> TableSpec:
    return GEO_SEX_AGE


@pytest.fixture(scope="session")
def make_geo_table() -> Callable[..., pa.Table]:
    return geo_table
