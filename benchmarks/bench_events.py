"""Benchmark of the event stage (lake/int -> lake/events) on DuckDB and on PySpark local.

Takes a lake (``--lake``, built by ``sndslab ingest``) or generates a synthetic extract of
``--patients`` persons × 3 years and ingests it with DuckDB once into a cache directory (reused
by later runs). Each engine then runs ``extract_events`` in a fresh Python process, writing
into a scratch lake whose ``int/``, ``stg/`` and ``_reports/`` are symbolic links to the source
lake (the source's own ``events/`` is never touched). Reported per engine: events, events/s,
wall seconds of the extraction (plus the Spark session start-up, and the whole process), peak
RSS of the process tree (psutil, sampled every 0.1 s: for Spark it includes the JVM), and the
Spark/DuckDB wall ratio. The per-category event counts of the two engines must be equal.
Results: ``benchmarks/results/events.json``.

Usage::

    python benchmarks/bench_events.py                       # 100k persons × 3 years
    python benchmarks/bench_events.py --patients 20000 --threads 2
    python benchmarks/bench_events.py --lake out/lake --engines duckdb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "events.json"
CACHE = Path(tempfile.gettempdir()) / "sndslab-bench-cache"
LINKED = ("_lake.json", "_state", "int", "stg", "_reports")


def _has_int(lake: Path) -> bool:
    """Whether ``lake`` is a lake whose int layer is committed."""
    from sndslab.lake import LakePaths, has_manifest

    return (lake / "_lake.json").exists() and has_manifest(LakePaths(str(lake)), "int")


def _lake(patients: int, first: int, last: int, cache: Path) -> Path:
    """The cached lake of the synthetic extract (generated and ingested with DuckDB once)."""
    base = cache / f"synth-{patients}-{first}-{last}-seed1"
    lake = cache / f"lake-{patients}-{first}-{last}-seed1"
    if _has_int(lake):
        return lake
    from sndslab.ingest import ingest
    from sndslab.synth import SynthConfig, generate

    if not (base / "truth" / "manifest.json").exists():
        shutil.rmtree(base, ignore_errors=True)
        t = time.perf_counter()
        generate(SynthConfig(patients=patients, first_year=first, last_year=last, seed=1), base)
        print(f"generated {base} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    shutil.rmtree(lake, ignore_errors=True)
    t = time.perf_counter()
    ingest(base / "raw", lake)
    print(f"ingested {lake} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return lake


def _child(args: argparse.Namespace) -> None:
    """One extraction (run in a fresh process): writes the timings to ``args.report``."""
    from sndslab.engines import SparkEngine, get_engine
    from sndslab.events import extract_events

    t = time.perf_counter()
    if args.child == "spark":
        engine: Any = SparkEngine(threads=args.threads, memory_limit=args.memory_limit or "4g")
        engine.session()  # start the JVM outside the timed extraction
    else:
        engine = get_engine(
            "duckdb", lake=args.scratch, memory_limit=args.memory_limit, threads=args.threads
        )
    session = time.perf_counter() - t
    t = time.perf_counter()
    result = extract_events(args.scratch, engine=engine)
    wall = time.perf_counter() - t
    payload = {
        "wall_s": wall,
        "session_s": session,
        "events": result.events,
        "patients": result.patients,
        "codes": result.codes,
        "by_category": result.by_category(),
    }
    Path(args.report).write_text(json.dumps(payload))


def _tree_rss(proc: Any) -> int:
    """RSS of a process and all its descendants (bytes); vanished processes count 0."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _run_child(cmd: list[str], what: str) -> tuple[float, int]:
    """Run ``cmd`` to completion, sampling the RSS of its process tree every 0.1 s; returns
    (seconds, peak bytes). A failed child ends the benchmark with ``what`` in the message."""
    import psutil

    t = time.perf_counter()
    child = subprocess.Popen(cmd)
    proc, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, _tree_rss(proc))
        time.sleep(0.1)
    seconds = time.perf_counter() - t
    if child.returncode != 0:
        raise SystemExit(f"{what} failed (exit code {child.returncode})")
    return seconds, peak


def _run(engine: str, lake: Path, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"sndslab-bench-events-{engine}-"))
    try:
        scratch = work / "lake"
        scratch.mkdir()
        for name in LINKED:
            if (lake / name).exists():
                (scratch / name).symlink_to((lake / name).resolve(), target_is_directory=True)
        report = work / "report.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine]
        cmd += ["--scratch", str(scratch), "--report", str(report)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        process_s, peak = _run_child(cmd, f"the {engine} extraction")
        r = json.loads(report.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "engine": engine,
        "threads": args.threads or os.cpu_count(),
        "memory_limit": args.memory_limit or ("4g" if engine == "spark" else None),
        "events": r["events"],
        "patients": r["patients"],
        "codes": r["codes"],
        "wall_s": round(r["wall_s"], 2),
        "events_per_s": round(r["events"] / max(r["wall_s"], 1e-9)),
        "session_start_s": round(r["session_s"], 2),
        "process_s": round(process_s, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "by_category": r["by_category"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None, help="an ingested lake to use")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--first-year", type=int, default=2019)
    parser.add_argument("--last-year", type=int, default=2021)
    parser.add_argument("--engines", default="duckdb,spark", help="comma-separated")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit / Spark driver")
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

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    from sndslab.engines import spark_available

    notes: list[str] = []
    if "spark" in engines and not spark_available():
        engines.remove("spark")
        notes.append("pyspark not installed: Spark run skipped")
    if args.lake is not None:
        lake = args.lake
        if not _has_int(lake):
            raise SystemExit(f"error: {lake} has no int layer: run `sndslab ingest`")
    else:
        lake = _lake(args.patients, args.first_year, args.last_year, args.cache)
    runs = [_run(e, lake, args) for e in engines]
    for r in runs:
        print(json.dumps({k: v for k, v in r.items() if k != "by_category"}), flush=True)
    by = {r["engine"]: r for r in runs}
    if len({json.dumps(r["by_category"], sort_keys=True) for r in runs}) > 1:
        raise SystemExit("error: the engines extracted different event counts")
    import duckdb

    import sndslab

    with sndslab.open_lake(lake) as opened:
        persons = (opened.table("int.persons").count(),)
    versions = {"duckdb": duckdb.__version__}
    if spark_available():
        import pyspark

        versions["pyspark"] = pyspark.__version__
    result = {
        "benchmark": "events.extract_events",
        "sndslab_version": sndslab.__version__,
        "versions": versions,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "extract": {
            "lake": str(args.lake) if args.lake else None,
            "patients": args.patients if args.lake is None else None,
            "years": [args.first_year, args.last_year] if args.lake is None else None,
            "persons_in_lake": persons[0] if persons else None,
        },
        "runs": runs,
        "spark_to_duckdb_wall_ratio": (
            round(by["spark"]["wall_s"] / max(by["duckdb"]["wall_s"], 1e-9), 2)
            if {"spark", "duckdb"} <= set(by)
            else None
        ),
        "notes": notes,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
