"""Benchmark of the synthetic SNDS generator.

Runs the generator at several sizes, each in a fresh process (so peak RSS is that run's own),
and writes ``benchmarks/results/synth.json`` with, per size: patient-years per minute, rows
and MB written per second, peak RSS, and the share of wall time spent formatting and writing
CSV. As a peer, the largest ER_PRS_F file produced is re-written by DuckDB's own CSV writer
(``COPY … TO``, same delimiter) from an in-memory table, giving the raw CSV write throughput
of this machine to compare our writer with.

Usage::

    python benchmarks/bench_synth.py                 # 100k and 300k persons × 3 years
    python benchmarks/bench_synth.py --sizes 1000000 # the 1 M × 3 years run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "synth.json"


def _worker(patients: int, years: tuple[int, int], out: Path, report: Path) -> None:
    """Run one generation and record timings (executed in a child process)."""
    from sndslab.synth import SynthConfig, _writer, generate

    spent = {"write": 0.0}
    original = _writer.RawTableWriter.write

    def timed(self, table, year, data):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        original(self, table, year, data)
        spent["write"] += time.perf_counter() - t

    _writer.RawTableWriter.write = timed  # type: ignore[method-assign]
    t0 = time.perf_counter()
    result = generate(
        SynthConfig(patients=patients, first_year=years[0], last_year=years[1], seed=1), out
    )
    wall = time.perf_counter() - t0
    rows = sum(max(f.rows, 0) for f in result.files.values())
    size = sum(f.bytes for f in result.files.values())
    report.write_text(
        json.dumps(
            {
                "wall_s": wall,
                "write_s": spent["write"],
                "rows": rows,
                "bytes": size,
                "files": len(result.files),
            }
        )
    )


def _peer_duckdb(raw: Path) -> dict[str, float]:
    """DuckDB's CSV writer on the biggest ER_PRS_F file (in-memory table → CSV)."""
    import duckdb

    files = sorted(raw.glob("ER_PRS_F_*.csv"), key=lambda p: p.stat().st_size)
    src = files[-1]
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE t AS SELECT * FROM read_csv('{src}', delim=';', header=true, "
        "all_varchar=true)"
    )
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]  # type: ignore[index]
    dest = src.with_suffix(".peer.csv")
    t = time.perf_counter()
    con.execute(f"COPY t TO '{dest}' (DELIMITER ';', HEADER)")
    dt = time.perf_counter() - t
    mb = dest.stat().st_size / 1e6
    dest.unlink()
    return {
        "file": src.name,
        "rows": rows,
        "mb": mb,
        "seconds": dt,
        "mb_per_s": mb / dt,
        "rows_per_s": rows / dt,
    }


def run(sizes: list[int], years: tuple[int, int]) -> dict:
    results = []
    n_years = years[1] - years[0] + 1
    peer = None
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix="bench_synth_"))
        out, report = work / "out", work / "report.json"
        code = (
            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"from bench_synth import _worker; from pathlib import Path; "
            f"_worker({n}, {years!r}, Path({str(out)!r}), Path({str(report)!r}))"
        )
        proc = subprocess.Popen([sys.executable, "-c", code])
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"generator run for {n} persons failed (status {status})")
        r = json.loads(report.read_text())
        wall = r["wall_s"]
        results.append(
            {
                "patients": n,
                "years": n_years,
                "patient_years": n * n_years,
                "wall_seconds": round(wall, 2),
                "patient_years_per_minute": round(n * n_years / wall * 60),
                "rows_written": r["rows"],
                "rows_per_second": round(r["rows"] / wall),
                "mb_written": round(r["bytes"] / 1e6, 1),
                "mb_per_second": round(r["bytes"] / 1e6 / wall, 1),
                "csv_format_and_write_seconds": round(r["write_s"], 2),
                "csv_format_and_write_share": round(r["write_s"] / wall, 3),
                "csv_writer_mb_per_second": round(r["bytes"] / 1e6 / max(r["write_s"], 1e-9), 1),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            }
        )
        if peer is None or n == sizes[-1]:
            peer = _peer_duckdb(out / "raw")
        shutil.rmtree(work)
        print(json.dumps(results[-1]), flush=True)
    assert peer is not None
    last = results[-1]
    return {
        "benchmark": "synthetic SNDS generator (sndslab synth)",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "goal": ">= 1,000,000 patient-years per minute on 2 cores, memory bounded",
        "runs": results,
        "peer_duckdb_csv_writer": {
            k: (round(v, 2) if isinstance(v, float) else v) for k, v in peer.items()
        },
        "ratio_our_csv_writer_to_duckdb": round(
            last["csv_writer_mb_per_second"] / peer["mb_per_s"], 3
        ),
        "memory_growth_mb_per_100k_patients": round(
            (results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"])
            / max((results[-1]["patients"] - results[0]["patients"]) / 1e5, 1e-9),
            1,
        )
        if len(results) > 1
        else None,
        "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--years", default="2019-2021")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    first, last = (int(y) for y in args.years.split("-"))
    result = run(args.sizes, (first, last))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
