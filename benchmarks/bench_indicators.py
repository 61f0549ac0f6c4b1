"""Benchmark of the indicator catalogue, its truth scores and the release gate on its output.

Generates a synthetic extract of ``--patients`` persons × 3 years (seed 1), ingests it and
extracts its events with DuckDB once into a cache directory (the same cache as
``bench_events.py``, reused by later runs). Then, each part writing its section of
``benchmarks/results/indicators.json`` as soon as it is done:

* ``catalogue``: the whole catalogue on DuckDB in a fresh Python process, one
  ``compute_indicators`` call per indicator family (the last generation of ``marts`` holds
  the whole catalogue): seconds per family and in all, events of the lake per second, cells
  (rows of ``marts.indicators``) per second, peak RSS of the process tree (psutil, sampled
  every 0.1 s);
* ``truth``: the scores against the injected truth (``sndslab.indicators.score_lockdown``:
  ITS level rate ratio of GP visits per month and its CI against the injected first-lockdown
  drop read from the truth manifest; ``score_regional_ranking``: Spearman of the regional
  diabetes prevalence, crude and age-standardised, against the injected multipliers), with
  the full targets (CI contains the injected drop, Spearman ≥ 0.8) and whether they are met;
* ``gate``: ``sndslab.release.protect`` and ``attack`` on the largest table built from
  ``marts.indicators``: treated diabetes persons by région → département × broad age →
  5-year band × sex with every margin;
* ``spark``: the catalogue on DuckDB and on Spark (local mode) at ``--spark-patients``
  persons, side by side, and the Spark/DuckDB wall ratio.

Usage::

    python benchmarks/bench_indicators.py                        # 100k persons, every part
    python benchmarks/bench_indicators.py --parts spark --spark-patients 10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_events import CACHE, _lake, _run_child

RESULTS = Path(__file__).parent / "results" / "indicators.json"
PARTS = ("catalogue", "truth", "gate", "spark")
#: Full targets of the truth scores (the tests assert looser ones at 2,000 persons).
TARGETS = {"its_ci_contains_injected": True, "spearman_min": 0.8}


def _events_lake(patients: int, first: int, last: int, cache: Path) -> tuple[Path, Path]:
    """(generator output, lake with its events layer) of the cached synthetic extract."""
    from sndslab.events import extract_events
    from sndslab.lake import LakePaths, has_manifest

    lake = _lake(patients, first, last, cache)
    if not has_manifest(LakePaths(str(lake)), "events"):
        t = time.perf_counter()
        extract_events(lake)
        print(f"events of {lake} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return cache / f"synth-{patients}-{first}-{last}-seed1", lake


def _families() -> dict[str, list[str]]:
    from sndslab.indicators import load_indicators

    out: dict[str, list[str]] = {}
    for spec in load_indicators():
        out.setdefault(spec.family, []).append(spec.name)
    return out


# -- the catalogue, in a child process ------------------------------------------------------------
def _child(args: argparse.Namespace) -> None:
    import sndslab
    from sndslab.indicators import compute_indicators

    t = time.perf_counter()
    engine: Any = args.child
    if args.child == "spark":
        from sndslab.engines import SparkEngine

        engine = SparkEngine(threads=args.threads, memory_limit="4g")
        engine.session()  # the JVM starts outside the timed catalogue
    session = time.perf_counter() - t
    families = []
    for family, names in _families().items():
        t = time.perf_counter()
        result = compute_indicators(args.lake, only=names, engine=engine)
        wall = time.perf_counter() - t
        mine = [r for r in result.runs if r.name in names]
        families.append(
            {
                "family": family,
                "indicators": len(names),
                "cells": sum(r.rows for r in mine),
                "wall_s": round(wall, 2),
            }
        )
        print(json.dumps(families[-1]), flush=True)
    with sndslab.open_lake(args.lake) as lake:
        events = lake.table("events.events").count()
        rows = lake.table("marts.indicators").count()
    payload = {"session_s": session, "families": families, "events": events, "rows": rows}
    Path(args.report).write_text(json.dumps(payload))


def _catalogue(engine: str, lake: Path, args: argparse.Namespace) -> dict[str, Any]:
    report = Path(tempfile.mkdtemp(prefix="sndslab-bench-ind-")) / "report.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine]
    cmd += ["--lake", str(lake), "--report", str(report), "--threads", str(args.threads)]
    process_s, peak = _run_child(cmd, f"the {engine} catalogue")
    r = json.loads(report.read_text())
    wall = sum(f["wall_s"] for f in r["families"])
    cells = sum(f["cells"] for f in r["families"])
    return {
        "engine": engine,
        "threads": args.threads,
        "memory_limit": "4g" if engine == "spark" else None,
        "indicators": sum(f["indicators"] for f in r["families"]),
        "events_in_lake": r["events"],
        "cells": cells,
        "marts_rows": r["rows"],
        "wall_s": round(wall, 2),
        "events_per_s": round(r["events"] / max(wall, 1e-9)),
        "cells_per_s": round(cells / max(wall, 1e-9)),
        "session_start_s": round(r["session_s"], 2),
        "process_s": round(process_s, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "seconds_per_family": {f["family"]: f["wall_s"] for f in r["families"]},
        "families": r["families"],
    }


# -- truth scores -----------------------------------------------------------------------------
def _truth(base: Path, lake: Path) -> dict[str, Any]:
    import sndslab
    from sndslab.indicators import score_lockdown, score_regional_ranking

    manifest = json.loads((base / "truth" / "manifest.json").read_text())
    with sndslab.open_lake(lake) as opened:
        its = score_lockdown(opened, manifest, "gp_visits_monthly", "gp")
        diabetes = score_regional_ranking(opened, "diabetes", "diabetes_rr")
        coronary = score_regional_ranking(opened, "coronary_disease", "cardio_rr")
    spearman_ok = min(diabetes.spearman_crude, diabetes.spearman_standardised)
    return {
        "its_gp_visits_monthly": its.to_dict(),
        "regional_diabetes": diabetes.to_dict(),
        "regional_coronary_disease_cardio_rr": coronary.to_dict(),
        "targets": TARGETS,
        "targets_met": {
            "its_ci_contains_injected": its.contains_injected,
            "spearman_diabetes_crude_and_standardised": spearman_ok >= TARGETS["spearman_min"],
        },
    }


# -- release gate ---------------------------------------------------------------------------
GATE_SPEC = {
    "name": "bench_diabetes_persons",
    "count": "n_persons",
    "dimensions": [
        {
            "name": "geo",
            "levels": [
                {"column": "region", "total": "ALL"},
                {"column": "departement", "total": "ALL"},
            ],
        },
        {
            "name": "age",
            "levels": [
                {"column": "age_broad", "total": "ALL"},
                {"column": "age_band", "total": "ALL"},
            ],
        },
        {"name": "sex", "levels": [{"column": "sex", "total": "0"}]},
    ],
}


def _gate(lake: Path) -> dict[str, Any]:
    import sndslab
    from sndslab.release import TableSpec, attack, protect

    with sndslab.open_lake(lake) as opened:
        year = (
            opened.sql("SELECT max(year) AS y FROM marts.indicators WHERE indicator = 'diabetes'")
            .to_arrow()["y"][0]
            .as_py()
        )
        table = opened.sql(
            f"""SELECT
              CASE geo_level WHEN 'france' THEN 'ALL' WHEN 'region' THEN geo_code
                   ELSE region END AS region,
              CASE WHEN geo_level = 'departement' THEN geo_code ELSE 'ALL' END AS departement,
              CASE age_level WHEN 'all' THEN 'ALL' WHEN 'broad' THEN age_band
                   ELSE age_broad END AS age_broad,
              CASE WHEN age_level = '5y' THEN age_band ELSE 'ALL' END AS age_band,
              CASE WHEN sex = 'all' THEN '0' ELSE sex END AS sex,
              numerator_persons AS n_persons
            FROM marts.indicators WHERE indicator = 'diabetes' AND year = {year}"""
        ).to_arrow()
    spec = TableSpec.model_validate(GATE_SPEC)
    t0 = time.perf_counter()
    p = protect(table, spec)
    t1 = time.perf_counter()
    res = attack([p])
    t2 = time.perf_counter()
    cells = p.cube.n_cells
    return {
        "table": f"diabetes {year}: région > département × broad age > 5-year band × sex",
        "cells": cells,
        "relations": p.cube.n_relations,
        "primary": int(p.primary.sum()),
        "secondary": int(p.secondary.sum()),
        "protect_s": round(t1 - t0, 2),
        "solver": p.summary()["solver"],
        "attack_s": round(t2 - t1, 2),
        "attack": res.summary(),
    }


# -- main -------------------------------------------------------------------------------------
def _write(output: Path, body: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(body, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--spark-patients", type=int, default=10_000)
    parser.add_argument("--first-year", type=int, default=2019)
    parser.add_argument("--last-year", type=int, default=2021)
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"error: unknown part(s) {sorted(unknown)}; parts: {', '.join(PARTS)}")

    import duckdb

    import sndslab

    body: dict[str, Any] = json.loads(args.output.read_text()) if args.output.exists() else {}
    versions = {"duckdb": duckdb.__version__}
    try:
        import pyspark

        versions["pyspark"] = pyspark.__version__
    except ImportError:
        pass
    body.update(
        {
            "benchmark": "indicators: catalogue, truth scores, release gate",
            "sndslab_version": sndslab.__version__,
            "versions": versions,
            "python": platform.python_version(),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "note": "2 shared cores, several concurrent jobs (wall times are pessimistic)",
            },
            "extract": {
                "patients": args.patients,
                "years": [args.first_year, args.last_year],
                "seed": 1,
            },
            "not_run": {
                "1000000_persons": "not run: out of reach on this shared 2-core machine in "
                "the session (generation + ingest + events alone would take hours)",
            },
        }
    )
    years = (args.first_year, args.last_year)
    if {"catalogue", "truth", "gate"} & set(parts):
        base, lake = _events_lake(args.patients, *years, args.cache)
        if "catalogue" in parts:
            body["catalogue_duckdb"] = _catalogue("duckdb", lake, args)
            _write(args.output, body)
        if "truth" in parts:
            body["truth"] = _truth(base, lake)
            _write(args.output, body)
        if "gate" in parts:
            body["gate"] = _gate(lake)
            _write(args.output, body)
    if "spark" in parts:
        _, small = _events_lake(args.spark_patients, *years, args.cache)
        runs = [_catalogue(e, small, args) for e in ("duckdb", "spark")]
        body["side_by_side"] = {
            "patients": args.spark_patients,
            "runs": runs,
            "spark_to_duckdb_wall_ratio": round(
                runs[1]["wall_s"] / max(runs[0]["wall_s"], 1e-9), 2
            ),
        }
        _write(args.output, body)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
