"""Benchmark of the staging step (raw CSV -> typed stg Parquet + quarantine + accounting).

Generates a synthetic extract of ``--patients`` persons × 3 years once into a cache directory
(reused by later runs), then stages it into a fresh lake in a child process (so the peak RSS,
read with ``os.wait4``, is the run's own) and writes ``benchmarks/results/ingest.json``: MB/s of
raw CSV, rows/s, peak RSS, overall and per table. ``--memory-limit`` sets DuckDB's
``memory_limit`` (out-of-core check: DuckDB spills to ``<lake>/.tmp/duckdb``). A PySpark run
is added side by side only when pyspark is importable (otherwise the JSON carries a note).

Usage::

    python benchmarks/bench_ingest.py                          # 100k persons × 3 years
    python benchmarks/bench_ingest.py --patients 20000 --threads 2
    python benchmarks/bench_ingest.py --memory-limit 1GB --append   # add an out-of-core run
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
from collections import defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "ingest.json"
CACHE = Path(tempfile.gettempdir()) / "sndslab-bench-cache"


def _extract(patients: int, first: int, last: int, cache: Path) -> Path:
    out = cache / f"synth-{patients}-{first}-{last}-seed1"
    if not (out / "truth" / "manifest.json").exists():
        from sndslab.synth import SynthConfig, generate

        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        generate(SynthConfig(patients=patients, first_year=first, last_year=last, seed=1), out)
        print(f"generated {out} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return out / "raw"


def _child(raw: Path, lake: Path, memory_limit: str | None, threads: int | None, out: Path):  # type: ignore[no-untyped-def]
    from sndslab.engines import get_engine
    from sndslab.ingest import stage

    engine = get_engine("duckdb", lake=lake, memory_limit=memory_limit, threads=threads)
    t = time.perf_counter()
    result = stage(raw, lake, engine=engine)
    wall = time.perf_counter() - t
    payload = {
        "wall_s": wall,
        "totals": result.totals,
        "accounts": [a.to_dict() for a in result.accounts],
    }
    out.write_text(json.dumps(payload))


def _run_child(
    raw: Path, lake: Path, memory_limit: str | None, threads: int | None
) -> tuple[dict[str, Any], int]:
    report = lake.parent / f"{lake.name}.report.json"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            _child(raw, lake, memory_limit, threads, report)
        except BaseException as exc:  # report and exit without running parent cleanups
            print(f"child failed: {exc!r}", file=sys.stderr)
            code = 1
        os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("staging failed in the child process")
    return json.loads(report.read_text()), int(usage.ru_maxrss) * 1024  # KiB on Linux


def _per_table(accounts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    agg: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for a in accounts:
        t = agg[a["table"] or "?"]
        t["files"] += 1
        t["bytes"] += a["bytes"]
        t["rows"] += a["rows_in"]
        t["seconds"] += a["seconds"]
    out: dict[str, dict[str, Any]] = {}
    for name, t in sorted(agg.items()):
        secs = max(t["seconds"], 1e-9)
        out[name] = {
            "files": int(t["files"]),
            "mb": round(t["bytes"] / 1e6, 2),
            "rows": int(t["rows"]),
            "seconds": round(t["seconds"], 3),
            "mb_per_s": round(t["bytes"] / 1e6 / secs, 1),
            "rows_per_s": round(t["rows"] / secs),
        }
    return out


def _previous_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    if not (args.append and args.output.exists()):
        return []
    previous = json.loads(args.output.read_text())
    same = previous.get("extract", {}).get("patients") == args.patients
    return list(previous.get("runs", [])) if same else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--first-year", type=int, default=2019)
    parser.add_argument("--last-year", type=int, default=2021)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 2GB")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--append", action="store_true", help="add this run to the runs already in --output"
    )
    args = parser.parse_args(argv)

    raw = _extract(args.patients, args.first_year, args.last_year, args.cache)
    csv_bytes = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())
    work = Path(tempfile.mkdtemp(prefix="sndslab-bench-ingest-"))
    try:
        report, rss = _run_child(raw, work / "lake", args.memory_limit, args.threads)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = report["wall_s"]
    totals = report["totals"]
    duckdb_run = {
        "engine": "duckdb",
        "memory_limit": args.memory_limit,
        "threads": args.threads or os.cpu_count(),
        "wall_s": round(wall, 2),
        "raw_mb": round(csv_bytes / 1e6, 1),
        "rows": totals["rows_in"],
        "mb_per_s": round(csv_bytes / 1e6 / wall, 1),
        "rows_per_s": round(totals["rows_in"] / wall),
        "peak_rss_mib": round(rss / 2**20, 1),
        "totals": totals,
        "per_table": _per_table(report["accounts"]),
    }
    from sndslab.engines import spark_available

    spark: dict[str, Any]
    if spark_available():
        spark = {"note": "pyspark installed but the Spark staging path is not implemented yet"}
    else:
        spark = {"note": "pyspark not installed: Spark run skipped"}
    import duckdb

    import sndslab

    result = {
        "benchmark": "ingest.stage",
        "sndslab_version": sndslab.__version__,
        "duckdb_version": duckdb.__version__,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "extract": {
            "patients": args.patients,
            "years": [args.first_year, args.last_year],
            "files": totals["files"],
        },
        "runs": [*_previous_runs(args), duckdb_run],
        "spark": spark,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in duckdb_run.items() if k not in ("per_table", "totals")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
