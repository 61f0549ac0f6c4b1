"""Benchmark of the supply-versus-consumption analysis (``sndslab analyse supply-demand``):
recovery of the injected supply effect, time and memory, and a peer run (statsmodels OLS).

For each ``--patients`` size: a synthetic extract of one care year (2019, seed 1; generated,
ingested and its events extracted once into the cache of ``bench_events.py``), then, in a
fresh Python process (wall time and peak RSS of the process tree), ``SupplyDemand`` on the lake
twice — GP density from the lake's practitioners (DA_PRA_R, the default) and from a
practitioner file holding the generator's published densities (``departements.csv``
``gp_per_100k``, standing in for the RPPS / DREES counts the hackathon used) — and the same
models with statsmodels' ``OLS`` on the same territory tables (the peer), side by side.
The injected slope is read from the truth manifest (``supply_effect``). The 2015 hackathon's
published figures are quoted for context. Writes ``benchmarks/results/supply_demand.json``.

Usage::

    python benchmarks/bench_supply_demand.py                     # 20,000 and 50,000 persons
    python benchmarks/bench_supply_demand.py --patients 1000000  # the 1M run (hours here)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_events import CACHE, _run_child
from bench_indicators import _events_lake

RESULTS = Path(__file__).parent / "results" / "supply_demand.json"
YEAR = 2019
HACKATHON = {
    "source": "Hackathon Open DAMIR (Etalab / Assurance maladie), 2015: ordinary least squares "
    "over départements, 2013, GP consultations C and V per affiliate (population protégée) "
    "against GPs per 100,000 inhabitants (RPPS)",
    "slope_crude": 0.9,
    "slope_age_adjusted": 0.5,
    "unit": "consultations per affiliate per year for +100 GPs per 100,000 inhabitants",
}


def _generator_densities(path: Path) -> Path:
    from importlib.resources import files

    text = files("sndslab.synth").joinpath("data/departements.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    path.write_text(
        "territory;practitioners_per_100k\n"
        + "".join(f"{r['snds_dpt']};{r['gp_per_100k']}\n" for r in rows),
        encoding="utf-8",
    )
    return path


def _peer(analysis: Any) -> dict[str, Any]:
    """statsmodels OLS on the same territories and regressors; time and largest difference."""
    import numpy as np
    import statsmodels.api as sm

    t = analysis.territories_.filter(analysis.territories_.column("in_model"))
    y = np.asarray(t.column("consultations_per_affiliate").to_numpy(), float)
    out: dict[str, Any] = {}
    designs: list[Any] = []
    worst = 0.0
    for model, fit in analysis.fits_.items():
        cols = [np.ones(len(y))]
        for name in fit.names[1:]:
            src = "practitioners_per_100k" if name == "practitioners_per_100" else name
            v = np.asarray(t.column(src).to_numpy(), float)
            cols.append(v / 100 if name == "practitioners_per_100" else v)
        peer = sm.OLS(y, np.column_stack(cols)).fit()
        ci = peer.conf_int(0.05)
        designs.append(np.column_stack(cols))
        out[model] = {
            "estimate": float(peer.params[1]),
            "lower": float(ci[1, 0]),
            "upper": float(ci[1, 1]),
        }
        worst = max(
            worst,
            float(np.max(np.abs(peer.params - fit.coef))),
            float(np.max(np.abs(ci[:, 0] - fit.lower))),
        )
    from sndslab.supply import ols

    reps = 200  # one fit takes well under a millisecond: time many
    start = time.perf_counter()
    for _ in range(reps):
        for x in designs:
            fitted = sm.OLS(y, x).fit()
            fitted.conf_int(0.05)
    peer_seconds = (time.perf_counter() - start) / reps
    start = time.perf_counter()
    for _ in range(reps):
        for fit in analysis.fits_.values():
            regs = {}
            for name in fit.names[1:]:
                src = "practitioners_per_100k" if name == "practitioners_per_100" else name
                v = np.asarray(t.column(src).to_numpy(), float)
                regs[name] = v / 100 if name == "practitioners_per_100" else v
            ols(y, regs)
    own_seconds = (time.perf_counter() - start) / reps
    out["seconds_per_run_of_the_models"] = round(peer_seconds, 6)
    out["sndslab_ols_seconds_per_run"] = round(own_seconds, 6)
    out["ratio_sndslab_ols_over_peer"] = round(own_seconds / peer_seconds, 3)
    out["max_abs_diff_vs_sndslab"] = worst
    return out


def _child(args: argparse.Namespace) -> None:
    import sndslab
    from sndslab.supply import SupplyDemand

    truth = args.truth
    report: dict[str, Any] = {}
    dens = _generator_densities(Path(args.report).with_suffix(".densities.csv"))
    with sndslab.open_lake(args.child) as lake:
        for label, prac in (("lake_practitioners", "lake"), ("generator_density", str(dens))):
            t = time.perf_counter()
            fit = SupplyDemand(year=YEAR, practitioners=prac).fit(lake)
            seconds = time.perf_counter() - t
            section: dict[str, Any] = {
                "seconds": round(seconds, 3),
                "territories": int(fit.accounting_["territories"]),
                "territories_in_model": int(fit.accounting_["territories_in_model"]),
                "persons": int(fit.accounting_["persons_in_model"]),
                "consultations": float(sum(fit.territories_.column("consultations").to_pylist())),
                "persons_per_second": round(fit.accounting_["persons_in_model"] / seconds),
            }
            for model in fit.fits_:
                s = fit.slope(model)
                section[model] = {k: round(v, 4) for k, v in s.items()} | {
                    "contains_truth": s["lower"] <= truth <= s["upper"],
                    "excludes_zero": s["lower"] > 0 or s["upper"] < 0,
                }
            section["peer_statsmodels"] = _peer(fit)
            report[label] = section
    Path(args.report).write_text(json.dumps(report), encoding="utf-8")


def _size(patients: int, cache: Path) -> dict[str, Any]:
    """One size; the preparation (generation, ingest, events) is timed when it runs and kept
    next to the cached lake, so that a later run from the cache still reports it."""
    timing = cache / f"supply-prepare-{patients}-{YEAR}-seed1.json"
    t = time.perf_counter()
    base, lake = _events_lake(patients, YEAR, YEAR, cache)
    prepared = time.perf_counter() - t
    if prepared > 5 or not timing.exists():
        timing.write_text(json.dumps({"seconds": round(prepared, 1)}))
    first = json.loads(timing.read_text())["seconds"]
    manifest = json.loads((base / "truth" / "manifest.json").read_text())
    truth = float(manifest["supply_effect"]["slope_per_100_gps_per_100k"])
    work = Path(tempfile.mkdtemp(prefix="sndslab-bench-supply-"))
    report = work / "report.json"
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(lake),
        "--report",
        str(report),
        "--truth",
        str(truth),
    ]
    seconds, peak = _run_child(cmd, f"the supply-demand fit at {patients:,} persons")
    body = json.loads(report.read_text())
    return {
        "patients": patients,
        "year": YEAR,
        "seed": 1,
        "injected_slope": truth,
        "reference_density": manifest["supply_effect"]["reference_density"],
        "prepare_seconds_generate_ingest_events": first,
        "prepare_from_cache_this_run": prepared <= 5,
        "process_seconds": round(seconds, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        **body,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--patients", type=int, nargs="+", default=[20_000, 50_000])
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--report", help=argparse.SUPPRESS)
    p.add_argument("--truth", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    import duckdb
    import statsmodels

    import sndslab

    body: dict[str, Any] = {
        "benchmark": "supply vs consumption (sndslab analyse supply-demand): injected supply "
        "effect recovered by OLS over départements, with a statsmodels peer",
        "sndslab_version": sndslab.__version__,
        "versions": {"duckdb": duckdb.__version__, "statsmodels": statsmodels.__version__},
        "python": platform.python_version(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "note": "2 shared cores, several concurrent jobs (wall times are pessimistic)",
        },
        "hackathon_2015": HACKATHON,
        "sizes": [],
        "not_run": {
            "1000000_persons": "not run: generation + ingest + events of 1,000,000 persons take "
            "hours on this shared 2-core machine (about 70 s per 20,000 persons); command: "
            "python benchmarks/bench_supply_demand.py --patients 1000000",
        },
    }
    for n in args.patients:
        body["sizes"].append(_size(n, args.cache))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")
        print(json.dumps(body["sizes"][-1], indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
