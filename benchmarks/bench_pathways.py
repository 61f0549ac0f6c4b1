"""Benchmark of the care pathways: computation, release gate, and the synthetic hip-fracture
outcomes beside the generator's parameters and the published French figures.

Uses a lake with its events layer (``--lake``), or generates ``--patients`` persons × 3 years
(seed 1) and ingests them once into the cache of ``bench_events.py``, then extracts their
events. Writes ``benchmarks/results/pathways.json``:

* ``compute``: ``compute_pathways`` (every shipped pathway) in a fresh Python process: wall
  seconds, events of the lake per second, peak RSS of the process tree;
* ``gate``: ``pathway_tables`` + ``sndslab.release.release`` (protect, LP attack, files):
  seconds, cells, suppressed cells, attack result;
* ``outcomes``: :func:`sndslab.pathways.cohort_outcomes` of each pathway (internal shares of
  the synthetic cohort) beside the generator's parameters (``synth/data/conditions.yaml``) and
  the published figures (docs/pathways.md, "Truth and realism");
* ``peer``: there is no public implementation of these pathway rules to run side by side; the
  SQL is checked against a plain-Python reference of the rules in
  tests/pathways/test_windows_property.py (hypothesis);
* ``one_million``: not run on the shared machine (the command to run it is recorded).

Usage::

    python benchmarks/bench_pathways.py --lake /path/to/lake_with_events
    python benchmarks/bench_pathways.py --patients 30000
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_events import CACHE, _lake, _run_child

RESULTS = Path(__file__).parent / "results" / "pathways.json"
#: Published French figures for hip fracture (see docs/pathways.md for the sources).
PUBLISHED = {
    "hip_fracture_65": {
        "mortality_1y": {
            "women": 0.206,
            "men": 0.329,
            "source": "DREES, Études et Résultats n° 948 (janvier 2016), Oberlin P, Mouquet M-C, "
            "Quel risque de décès un an après une fracture du col du fémur ? (2008-2009, "
            "55 ans et plus, régime général)",
        },
        "death_in_stay": {
            "women": 0.034,
            "men": 0.068,
            "source": "DREES, Études et Résultats n° 948 (2016)",
        },
        "mortality_30d": {
            "women": 0.053,
            "men": 0.10,
            "source": "DREES, Études et Résultats n° 948 (2016): one month after the fracture",
        },
    }
}


def _child(args: argparse.Namespace) -> None:
    import sndslab
    from sndslab.pathways import compute_pathways

    t = time.perf_counter()
    result = compute_pathways(args.lake)
    wall = time.perf_counter() - t
    with sndslab.open_lake(args.lake) as lake:
        events = lake.table("events.events").count()
    Path(args.report).write_text(
        json.dumps({"wall_s": wall, "events": events, "result": result.to_dict()})
    )


def _events_lake(args: argparse.Namespace) -> Path:
    from sndslab.events import extract_events
    from sndslab.lake import LakePaths, has_manifest

    if args.lake is not None:
        return Path(args.lake)
    lake = _lake(args.patients, 2019, 2021, CACHE)
    if not has_manifest(LakePaths(str(lake)), "events"):
        extract_events(lake)
    return lake


def _generator_parameters() -> dict[str, Any]:
    from importlib import resources

    import yaml

    data = yaml.safe_load(
        resources.files("sndslab.synth").joinpath("data", "conditions.yaml").read_text("utf-8")
    )
    fall = data["fall"]
    return {
        "hip_fracture_65": {
            "ssr_after_fall_stay_share": fall["ssr_after_stay_share"],
            "mortality_1y_hip_fracture": fall["mortality_1y_hip_fracture"],
            "note": "SSR share of fall stays only (hip fractures not due to a fall: road, "
            "sport, pathological, take the generator's other shares); the 1-year mortality is "
            "injected for S72 stays of persons 65+ (synth/_falls.py _hip_fracture_deaths)",
        }
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lake", type=Path, default=None, help="a lake with its events layer")
    parser.add_argument("--patients", type=int, default=30_000)
    parser.add_argument(
        "--built-with", default="", help="how the --lake was built (recorded in the JSON)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    import sndslab
    from sndslab.pathways import cohort_outcomes, load_pathways, pathway_tables
    from sndslab.release import release

    source = _events_lake(args)
    work = Path(tempfile.mkdtemp(prefix="sndslab-bench-pathways-"))
    lake = work / "lake"
    shutil.copytree(source, lake)  # the source lake is left as it was
    report = work / "report.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child"]
    cmd += ["--lake", str(lake), "--report", str(report)]
    process_s, peak = _run_child(cmd, "compute_pathways")
    child = json.loads(report.read_text())
    with sndslab.open_lake(lake) as opened:
        persons = opened.table("events.patients").count()
    t = time.perf_counter()
    tables = pathway_tables(lake)
    released = release(tables, work / "released", lake=lake)
    gate_s = time.perf_counter() - t
    audit = released.audit
    out = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "sndslab": sndslab.__version__,
        },
        "size": {
            "persons": persons,
            "events": child["events"],
            "built_with": args.built_with or f"bench_events cache, {args.patients} persons",
        },
        "compute": {
            "wall_s": round(child["wall_s"], 2),
            "process_s": round(process_s, 2),
            "events_per_s": round(child["events"] / max(child["wall_s"], 1e-9)),
            "peak_rss_mib": round(peak / 2**20, 1),
            "result": child["result"],
        },
        "gate": {
            "seconds": round(gate_s, 2),
            "tables": [
                {k: t[k] for k in ("file", "cells", "primary", "secondary", "published")}
                for t in audit["tables"]
            ],
            "attack": audit["attack"],
        },
        "outcomes": {
            "synthetic": [cohort_outcomes(lake, s) for s in load_pathways()],
            "generator_parameters": _generator_parameters(),
            "published": PUBLISHED,
        },
        "peer": "none: no public implementation of these pathway rules; the SQL is checked "
        "against a plain-Python reference in tests/pathways/test_windows_property.py",
        "one_million": {
            "status": "not_run",
            "reason": "2 cores shared by 7 processes on the benchmark machine: generating and "
            "ingesting 1,000,000 persons does not fit the session",
            "command": "python benchmarks/bench_pathways.py --patients 1000000",
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out["outcomes"]["synthetic"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
