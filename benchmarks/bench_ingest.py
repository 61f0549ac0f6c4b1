"""Benchmark of the whole ingest (raw CSV -> stg/ + quarantine/ -> rules -> identity -> int/ ->
report), DuckDB and PySpark local side by side on the same files, plus a bare peer.

Generates a synthetic extract of ``--patients`` persons × 3 years once into a cache directory
(reused by later runs), then, for each engine, runs ``sndslab.ingest.ingest`` into a fresh lake
in a child process while the parent samples the resident memory of the child's whole process
tree (the JVM included) every 0.1 s. The peer is a bare DuckDB conversion of every CSV file to
Parquet (``read_csv`` with sniffed types → ``COPY … (FORMAT parquet)``: no accounting, no line
numbers, no rules), i.e. what any hand-written ingest costs at least. Writes
``benchmarks/results/ingest.json``: per engine the wall time per phase, MB/s of raw CSV and rows/s
(overall and per table for staging), peak RSS; and the ratios DuckDB/Spark and DuckDB/peer.

Usage::

    python benchmarks/bench_ingest.py                 # 100k persons × 3 years, both engines + peer
    python benchmarks/bench_ingest.py --patients 20000 --engines duckdb
    python benchmarks/bench_ingest.py --memory-limit 1GB --engines duckdb --append  # out-of-core
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
import threading
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


# ---- child: one measured run ------------------------------------------------------------------


def _child(args: argparse.Namespace) -> None:
    from sndslab.engines import get_engine
    from sndslab.ingest import ingest

    engine = get_engine(
        args.child, lake=args.lake, memory_limit=args.memory_limit, threads=args.threads
    )
    t = time.perf_counter()
    result = ingest(args.raw, args.lake, engine=engine)
    wall = time.perf_counter() - t
    payload = {
        "wall_s": wall,
        "phases_s": dict(getattr(result, "timings", {}) or {}),
        "totals": result.stage.totals,
        "accounts": [a.to_dict() for a in result.stage.accounts],
        "rule_counts": result.report.get("rules", {}),
    }
    Path(args.report).write_text(json.dumps(payload, default=str))


def _peer(args: argparse.Namespace) -> None:
    """Bare DuckDB CSV -> Parquet of every raw file (sniffed types, no accounting)."""
    import duckdb

    con = duckdb.connect(config={"threads": args.threads} if args.threads else {})
    out = Path(args.lake)
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    rows = 0
    for i, path in enumerate(sorted(p for p in Path(args.raw).rglob("*.csv*") if p.is_file())):
        got = con.execute(
            f"COPY (SELECT * FROM read_csv('{path}', delim = ';', header = true)) "
            f"TO '{out / f'{i}.parquet'}' (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        rows += int(got[0]) if got else 0
    Path(args.report).write_text(json.dumps({"wall_s": time.perf_counter() - t, "rows": rows}))


# ---- parent: run children, sample memory ------------------------------------------------------


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _measured(cmd: list[str]) -> int:
    """Run ``cmd``; peak resident memory of its process tree, in bytes."""
    proc = subprocess.Popen(cmd)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"benchmark child failed ({code}): {' '.join(cmd)}")
    return peak


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
            "file_seconds": round(t["seconds"], 3),
            "mb_per_s": round(t["bytes"] / 1e6 / secs, 1),
            "rows_per_s": round(t["rows"] / secs),
        }
    return out


def _run(
    kind: str, raw: Path, work: Path, args: argparse.Namespace, csv_bytes: int
) -> dict[str, Any]:
    lake = work / f"lake-{kind}"
    report = work / f"{kind}.json"
    cmd = [sys.executable, __file__, "--raw", str(raw), "--lake", str(lake)]
    cmd += ["--report", str(report)]
    cmd += ["--peer"] if kind == "peer" else ["--child", kind]
    if args.memory_limit and kind == "duckdb":
        cmd += ["--memory-limit", args.memory_limit]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    print(f"running {kind} ...", file=sys.stderr)
    peak = _measured(cmd)
    got = json.loads(report.read_text())
    shutil.rmtree(lake, ignore_errors=True)
    wall = got["wall_s"]
    run: dict[str, Any] = {
        "engine": kind if kind != "peer" else "duckdb-bare-csv-to-parquet",
        "memory_limit": args.memory_limit if kind == "duckdb" else None,
        "threads": args.threads or os.cpu_count(),
        "wall_s": round(wall, 2),
        "raw_mb": round(csv_bytes / 1e6, 1),
        "mb_per_s": round(csv_bytes / 1e6 / wall, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
    }
    if kind == "peer":
        run["rows"] = got["rows"]
        run["rows_per_s"] = round(got["rows"] / wall)
        return run
    rows = got["totals"]["rows_in"]
    run |= {"rows": rows, "rows_per_s": round(rows / wall)}
    phases = {k: round(v, 2) for k, v in got["phases_s"].items()}
    if "stage" in phases:
        run["stage_mb_per_s"] = round(csv_bytes / 1e6 / max(phases["stage"], 1e-9), 1)
    run |= {"phases_s": phases, "totals": got["totals"], "per_table": _per_table(got["accounts"])}
    return run


def _previous_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    if not (args.append and args.output.exists()):
        return []
    previous = json.loads(args.output.read_text())
    same = previous.get("extract", {}).get("patients") == args.patients
    return list(previous.get("runs", [])) if same else []


def _ratios(runs: list[dict[str, Any]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for r in runs:
        if r.get("memory_limit"):
            continue
        best[r["engine"]] = min(best.get(r["engine"], float("inf")), r["wall_s"])
    out: dict[str, float] = {}
    if "duckdb" in best and "spark" in best:
        out["spark_wall_over_duckdb_wall"] = round(best["spark"] / best["duckdb"], 2)
    if "duckdb" in best and "duckdb-bare-csv-to-parquet" in best:
        out["duckdb_ingest_wall_over_bare_conversion_wall"] = round(
            best["duckdb"] / best["duckdb-bare-csv-to-parquet"], 2
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--first-year", type=int, default=2019)
    parser.add_argument("--last-year", type=int, default=2021)
    parser.add_argument("--engines", default="duckdb,spark,peer")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 2GB")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--append", action="store_true", help="add these runs to the runs already in --output"
    )
    # internal: child processes
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    if args.peer:
        _peer(args)
        return 0

    raw = _extract(args.patients, args.first_year, args.last_year, args.cache)
    csv_bytes = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())
    work = Path(tempfile.mkdtemp(prefix="sndslab-bench-ingest-"))
    runs: list[dict[str, Any]] = []
    try:
        for kind in [e.strip() for e in args.engines.split(",") if e.strip()]:
            runs.append(_run(kind, raw, work, args, csv_bytes))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import duckdb

    import sndslab

    all_runs = [*_previous_runs(args), *runs]
    result = {
        "benchmark": "ingest",
        "sndslab_version": sndslab.__version__,
        "duckdb_version": duckdb.__version__,
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "extract": {
            "patients": args.patients,
            "years": [args.first_year, args.last_year],
            "files": sum(1 for p in raw.rglob("*") if p.is_file()),
            "raw_mb": round(csv_bytes / 1e6, 1),
        },
        "runs": all_runs,
        "ratios": _ratios(all_runs),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for r in runs:
        print(json.dumps({k: v for k, v in r.items() if k not in ("per_table", "totals")}))
    print(json.dumps(result["ratios"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
