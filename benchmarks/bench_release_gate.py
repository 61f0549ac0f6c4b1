"""Release gate: time of the protection (primary + secondary suppression) and of the LP attack
on a realistic table of persons by région → département × age band × sex with every margin.

The table is aggregated with DuckDB (grouping sets) from a generated population: skewed
département sizes and a condition whose prevalence rises with age, so a large share of the
cells are small, as in a real prevalence table. Writes ``benchmarks/results/release_gate.json``.

Usage::

    python benchmarks/bench_release_gate.py                       # ~2,400 cells
    python benchmarks/bench_release_gate.py --persons 400000 --departements 96 --bands 27  # ~10k

Each run replaces the run of the same size in the JSON (``runs``, sorted by cells).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from sndslab.release import TableSpec, attack, protect

RESULTS = Path(__file__).parent / "results" / "release_gate.json"

SPEC = TableSpec.model_validate(
    {
        "name": "bench_condition_persons",
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
    }
)


def table(persons: int, departements: int, bands: int, prevalence: float) -> pa.Table:
    con = duckdb.connect()
    try:
        con.execute("SELECT setseed(0.5)").fetchall()
        return con.sql(
            f"""
            WITH p AS (
              SELECT i, CAST(floor(pow(random(), 2.5) * {departements}) AS INTEGER) AS d,
                     CAST(floor(random() * {bands}) AS INTEGER) AS a,
                     CASE WHEN random() < 0.52 THEN '2' ELSE '1' END AS sex, random() AS u
              FROM range({persons}) t(i)
            )
            SELECT coalesce('R' || CAST(d // 4 AS VARCHAR), 'ALL') AS region,
                   coalesce(CAST(10 + d AS VARCHAR), 'ALL') AS departement,
                   coalesce('A' || lpad(CAST(a AS VARCHAR), 2, '0'), 'ALL') AS age_band,
                   coalesce(sex, '0') AS sex,
                   count(DISTINCT i) FILTER (WHERE u < {prevalence} * (0.3 + a)) AS n_persons
            FROM p
            GROUP BY ROLLUP ('R' || CAST(d // 4 AS VARCHAR), CAST(10 + d AS VARCHAR)),
                     CUBE ('A' || lpad(CAST(a AS VARCHAR), 2, '0')), CUBE (sex)
            """
        ).to_arrow_table()
    finally:
        con.close()


def run(persons: int, departements: int, bands: int, prevalence: float) -> dict:
    t = table(persons, departements, bands, prevalence)
    t0 = time.perf_counter()
    p = protect(t, SPEC)
    t1 = time.perf_counter()
    res = attack([p])
    t2 = time.perf_counter()
    cells = p.cube.n_cells
    return {
        "persons": persons,
        "departements": departements,
        "age_bands": bands,
        "cells": cells,
        "relations": p.cube.n_relations,
        "primary": int(p.primary.sum()),
        "secondary": int(p.secondary.sum()),
        "protect_seconds": round(t1 - t0, 3),
        "protect_cells_per_second": round(cells / (t1 - t0), 1),
        "solver": p.summary()["solver"],
        "attack_seconds": round(t2 - t1, 3),
        "attack_cells_per_second": round(cells / (t2 - t1), 1),
        "attack": res.summary(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=150_000)
    ap.add_argument("--departements", type=int, default=48)
    ap.add_argument("--bands", type=int, default=12)
    ap.add_argument("--prevalence", type=float, default=0.01)
    args = ap.parse_args()
    result = run(args.persons, args.departements, args.bands, args.prevalence)
    result["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "note": "2 shared cores, several concurrent jobs",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text("utf-8")).get("runs", []) if RESULTS.exists() else []
    runs = [r for r in runs if r["cells"] != result["cells"]] + [result]
    body = {
        "benchmark": "release gate: protect + attack",
        "runs": sorted(runs, key=lambda r: r["cells"]),
    }
    RESULTS.write_text(json.dumps(body, indent=1) + "\n", "utf-8")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
