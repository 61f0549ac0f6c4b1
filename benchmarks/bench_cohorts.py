"""Benchmark of the cohort builds: every built-in cohort spec on DuckDB and on Spark.

Uses the cached synthetic lake of ``bench_events.py`` (``--patients`` persons, seed 1,
generated and ingested once), extracts its events into a scratch copy, then, in a fresh Python
process per engine (peak RSS of the process tree sampled every 0.1 s), builds each built-in
cohort (``sndslab.cohorts.build_cohort``: index, steps with their attrition, observation) and
writes them all into ``marts`` (``write_cohorts``). Reports seconds per cohort, persons, rows,
events of the lake per second, and the Spark/DuckDB ratio; checks both engines give the same
persons. Writes ``benchmarks/results/cohorts.json``.

Usage::

    python benchmarks/bench_cohorts.py                                  # 10,000 persons, 2 years
    python benchmarks/bench_cohorts.py --patients 1000000 --last-year 2021 --engines duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_events import CACHE, _lake, _run_child

RESULTS = Path(__file__).parent / "results" / "cohorts.json"


def _child(args: argparse.Namespace) -> None:
    """Build every built-in cohort on one engine (a fresh process); timings to ``--report``."""
    import sndslab
    from sndslab.cohorts import build_cohort, builtin_cohorts, write_cohorts
    from sndslab.engines import SparkEngine, get_engine

    t = time.perf_counter()
    if args.child == "spark":
        engine: Any = SparkEngine(threads=args.threads, memory_limit="4g")
        engine.session()
    else:
        engine = get_engine("duckdb", lake=args.scratch, threads=args.threads)
    session = time.perf_counter() - t
    cohorts = []
    with sndslab.open_lake(args.scratch, engine) as lake:
        events = lake.table("events.events").count()
        results = []
        for name in builtin_cohorts():
            t = time.perf_counter()
            r = build_cohort(lake, name, allow_empty=True)
            persons, rows = r.persons, r.rows
            wall = time.perf_counter() - t
            results.append(r)
            cohorts.append({"cohort": name, "wall_s": round(wall, 3), "persons": persons,
                            "rows": rows, "steps": r.attrition.num_rows})  # fmt: skip
        t = time.perf_counter()
        write_cohorts(lake, results)
        write_s = time.perf_counter() - t
        for r in results:
            r.drop()
    payload = {"session_s": session, "events": events, "cohorts": cohorts, "write_s": write_s}
    Path(args.report).write_text(json.dumps(payload))


def _run(engine: str, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    report = scratch.parent / f"report-{engine}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine]
    cmd += ["--scratch", str(scratch), "--report", str(report)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    process_s, peak = _run_child(cmd, f"the {engine} cohort builds")
    r = json.loads(report.read_text())
    build_s = sum(c["wall_s"] for c in r["cohorts"])
    return {
        "engine": engine,
        "threads": args.threads or os.cpu_count(),
        "events": r["events"],
        "cohorts": r["cohorts"],
        "build_s": round(build_s, 2),
        "events_per_s_per_cohort": round(r["events"] * len(r["cohorts"]) / max(build_s, 1e-9)),
        "write_marts_s": round(r["write_s"], 2),
        "session_start_s": round(r["session_s"], 2),
        "process_s": round(process_s, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--first-year", type=int, default=2019)
    parser.add_argument("--last-year", type=int, default=2020)
    parser.add_argument("--engines", default="duckdb,spark", help="comma-separated")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    import duckdb

    import sndslab
    from sndslab.engines import spark_available
    from sndslab.events import extract_events

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    lake = _lake(args.patients, args.first_year, args.last_year, args.cache)
    work = Path(tempfile.mkdtemp(prefix="sndslab-bench-cohorts-"))
    try:
        scratch = work / "lake"
        shutil.copytree(lake, scratch)  # a copy: the commits of the run never touch the cache
        t = time.perf_counter()
        extract_events(scratch)
        events_s = time.perf_counter() - t
        runs = [_run(e, scratch, args) for e in engines]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    persons = [{c["cohort"]: c["persons"] for c in r["cohorts"]} for r in runs]
    if len({json.dumps(p, sort_keys=True) for p in persons}) > 1:
        raise SystemExit(f"error: the engines built different cohorts: {persons}")
    by = {r["engine"]: r for r in runs}
    versions = {"duckdb": duckdb.__version__}
    if spark_available():
        import pyspark

        versions["pyspark"] = pyspark.__version__
    command = "python benchmarks/bench_cohorts.py --patients {n} --last-year 2021 --engines {e}"
    result = {
        "benchmark": "cohorts.build_cohort",
        "sndslab_version": sndslab.__version__,
        "versions": versions,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "extract": {
            "patients": args.patients,
            "years": [args.first_year, args.last_year],
            "events_extraction_s": round(events_s, 2),
        },
        "runs": runs,
        "spark_to_duckdb_build_ratio": (
            round(by["spark"]["build_s"] / max(by["duckdb"]["build_s"], 1e-9), 2)
            if {"spark", "duckdb"} <= set(by)
            else None
        ),
        "not_run": {
            "100000_persons_3_years": {
                "status": "not_run",
                "reason": "a 2-core machine shared by 7 sessions: the synthetic extract alone "
                "takes longer than the 5 minutes a benchmark may use today",
                "command": command.format(n=100_000, e="duckdb,spark"),
            },
            "1000000_persons_3_years": {
                "status": "not_run",
                "reason": "same; needs a dedicated machine (about 16 GB of disk for the lake)",
                "command": command.format(n=1_000_000, e="duckdb,spark"),
            },
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({r["engine"]: r["build_s"] for r in runs}))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
