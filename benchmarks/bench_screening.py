"""Benchmark of the drug-safety screening (sndslab.signals) and its truth scores, with tick's
ConvSCCS side by side on the same inputs.

Parts, each writing its section of ``benchmarks/results/screening.json``:

* ``screening``: the shipped falls study (``Screening.fit``: population, outcomes, purchases,
  the sparse day × lag-bin design built in DuckDB, the penalised ConvSCCS fit, FDR) in a
  fresh Python process: seconds (design, fit, total), peak RSS of the process tree, cases,
  drugs; then the scores against the generator's truth (recall at FDR 0.1, injected IRRs in
  their CIs, false positives and the bias each comes from, null CI coverage);
* ``tick``: the same cases, drugs and purchases in tick's discretisation (weekly buckets,
  convolution of purchase indicators, ``n_lags`` = the study's lags + pre-exposure lags,
  no age/season terms), fitted by ``tick.survival.ConvSCCS`` and by our penalised
  conditional Poisson: fit seconds of both and the mean absolute error between their
  relative-incidence lag curves (every drug × lag).

The lake is the bench_events cache (``--patients`` persons × 2019–2021, seed 1, generated and
ingested once) or ``--lake`` with ``--truth``.

Usage::

    python benchmarks/bench_screening.py --patients 100000
    python benchmarks/bench_screening.py --lake /path/lake --truth /path/truth --patients 100000
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

RESULTS = Path(__file__).parent / "results" / "screening.json"
#: Full targets of issue 15 (the tests assert looser ones on the CI-sized lake).
TARGETS = {"recall_min": 0.9, "fdr": 0.1, "biased_nulls_flagged_max": 0}


def _save(section: str, value: Any) -> None:
    data = json.loads(RESULTS.read_text("utf-8")) if RESULTS.exists() else {}
    data.update(
        {
            "benchmark": "drug-safety screening: ConvSCCS on the falls study, truth scores, "
            "tick side by side",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "targets": TARGETS,
            "not_run": {
                "1000000_persons": {
                    "reason": "a 1,000,000-person x 3-year extract (about 45 GB of raw files, "
                    "ingest above 60 GB of RAM at the measured 70 MB per 1,000 persons) is not "
                    "possible on this shared 2-core machine today",
                    "command": "python benchmarks/bench_screening.py --patients 1000000",
                }
            },
        }
    )  # fmt: skip
    data[section] = value
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", "utf-8")


def _child(lake: Path, truth: Path, report: Path) -> None:
    """Fit the falls study and score it (run in a fresh process)."""
    import sndslab
    from sndslab.signals import FALLS_STUDY, Screening, load_study, score_against_truth

    study = load_study(FALLS_STUDY)
    t = time.perf_counter()
    with sndslab.open_lake(lake) as lk:
        model = Screening(study).fit(lk)
    total = time.perf_counter() - t
    scores = score_against_truth(model, truth)
    out = {
        "seconds_total": round(total, 2),
        "seconds_design": round(model.design_seconds_, 2),
        "seconds_fit": round(model.fit_seconds_, 2),
        "cases": model.n_cases_,
        "drugs_screened": model.n_drugs_,
        "converged": bool(model.converged_),
        "attrition": model.attrition_,
        "scores": scores,
        "top_signals": model.drugs_.slice(0, 15).to_pylist(),
    }
    report.write_text(json.dumps(out, indent=2, default=float) + "\n", "utf-8")


def _truth_curves(truth: Path, drugs: list[str], n_lags: int, pre: int, days: int) -> Any:
    """Injected relative incidence per drug × lag bin (1 for null drugs and bins outside the
    injected window; a bin counts when at least half of its days are inside)."""
    import numpy as np

    manifest = json.loads((truth / "manifest.json").read_text("utf-8"))
    effects = {e["atc"]: e for e in manifest["drug_effects"]["effects"]}
    out = np.ones((len(drugs), n_lags))
    for j, atc in enumerate(drugs):
        e = effects.get(atc)
        if e is None:
            continue
        for k in range(n_lags):
            a = (k - pre) * days
            overlap = min(a + days - 1, int(e["lag_end"])) - max(a, int(e["lag_start"])) + 1
            if 2 * overlap >= days:
                out[j, k] = float(e["irr"])
    return out


def _tick(
    lake: Path,
    truth: Path,
    smoothness: float,
    ridge: float,
    c_tv: float,
    c_l1: float,
    variants: list[str],
    max_iter: int,
) -> dict[str, Any]:
    """tick's ConvSCCS and ours on identical bucketed inputs: every case, and the cases
    observed over the whole period only (tick counts the intervals after a case's censoring
    in its likelihood, ours leaves them out: on uncensored cases both likelihoods are the
    same)."""
    import numpy as np

    import sndslab
    from sndslab.signals import (
        FALLS_STUDY,
        StudyData,
        build_design,
        load_study,
    )

    study = load_study(FALLS_STUDY)
    with sndslab.open_lake(lake) as lk:
        data = StudyData(lk, study).build()
        try:
            design = build_design(data, resolution="bucket", covariates=False)
        finally:
            data.drop_all()
    out: dict[str, Any] = {}
    full = int(design.n_buckets.max())
    curves = _truth_curves(truth, design.drugs, design.n_lags, study.screening.pre_lags, 7)
    for name, keep in (
        ("all_cases", np.ones(len(design.n_buckets), bool)),
        ("uncensored_cases", design.n_buckets == full),
    ):
        if name in variants:
            out[name] = _side_by_side(design, keep, smoothness, ridge, c_tv, c_l1, curves, max_iter)
    return out


def _side_by_side(
    design: Any,
    keep: Any,
    smoothness: float,
    ridge: float,
    c_tv: float,
    c_l1: float,
    curves: Any,
    max_iter: int,
) -> dict[str, Any]:
    import numpy as np

    from sndslab.signals import convolution_design, fit_convsccs, tick_inputs

    idx = np.flatnonzero(keep)
    remap = np.full(len(keep), -1)
    remap[idx] = np.arange(len(idx))
    on = design.onsets[keep[design.onsets[:, 0]]].copy()
    on[:, 0] = remap[on[:, 0]]
    offsets = np.concatenate([[0], np.cumsum(design.n_buckets)])
    y = np.concatenate([design.y[offsets[i] : offsets[i + 1]] for i in idx])
    # tick sees only purchases inside the observation window: ours gets the same onsets
    same = convolution_design(
        on, design.n_buckets[idx], y, design.drugs, design.n_lags, design.bucket_days
    )
    features, labels, censoring = tick_inputs(same)
    t = time.perf_counter()
    ours = fit_convsccs(same, smoothness, ridge, covariance=False)
    ours_s = time.perf_counter() - t

    from tick.survival import ConvSCCS

    n_lags = np.full(len(same.drugs), same.n_lags - 1, dtype="uint64")
    model = ConvSCCS(
        n_lags=n_lags,
        penalized_features=np.arange(len(same.drugs)),
        C_tv=c_tv,
        C_group_l1=c_l1,
        max_iter=max_iter,
        random_state=0,
    )
    t = time.perf_counter()
    model.fit(features, labels, censoring)
    tick_s = time.perf_counter() - t
    tick_ri = np.exp(np.concatenate([np.asarray(c) for c in model.coeffs]))
    ours_ri = np.exp(ours.coef[: same.n_drug_columns])
    err = np.abs(tick_ri - ours_ri)
    true = curves.ravel()
    effect = np.repeat(np.any(curves != 1.0, axis=1), same.n_lags)
    vs_truth = {
        who: {
            "mae_all_drugs": round(float(np.mean(np.abs(ri - true))), 5),
            "median_abs_error_all_drugs": round(float(np.median(np.abs(ri - true))), 5),
            "mae_injected_drugs": round(float(np.mean(np.abs(ri - true)[effect])), 5),
        }
        for who, ri in (("ours", ours_ri), ("tick", tick_ri))
    }
    return {
        "inputs": {
            "cases": len(idx),
            "drugs": len(same.drugs),
            "bucket_days": same.bucket_days,
            "lags_per_drug": same.n_lags,
            "buckets": int(same.n_buckets.sum()),
            "nonzeros": int(same.X.nnz),
            "events": int(y.sum()),
        },
        "ours": {"seconds_fit": round(ours_s, 2), "smoothness": smoothness, "ridge": ridge,
                 "converged": bool(ours.converged)},
        "tick": {"version": _tick_version(), "seconds_fit": round(tick_s, 2), "C_tv": c_tv,
                 "C_group_l1": c_l1},
        "lag_curve_mae": round(float(err.mean()), 5),
        "lag_curve_median_abs_error": round(float(np.median(err)), 5),
        "fit_time_ratio_ours_to_tick": round(ours_s / tick_s, 3) if tick_s else None,
        "lag_curve_error_vs_truth": vs_truth,
    }  # fmt: skip


def _tick_version() -> str:
    from importlib.metadata import version

    return version("tick")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--lake", type=Path)
    ap.add_argument("--truth", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parts", nargs="+", default=["screening", "tick"])
    ap.add_argument("--child", nargs=3, metavar=("LAKE", "TRUTH", "REPORT"))
    ap.add_argument("--smoothness", type=float, default=0.01)
    ap.add_argument("--ridge", type=float, default=0.001)
    ap.add_argument("--c-tv", type=float, default=1e4)
    ap.add_argument("--c-group-l1", type=float, default=1e4)
    ap.add_argument("--tick-max-iter", type=int, default=100)
    ap.add_argument("--variants", nargs="+", default=["all_cases", "uncensored_cases"])
    args = ap.parse_args()
    if args.child:
        _child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]))
        return
    if args.lake is None:
        from sndslab.events import extract_events
        from sndslab.lake import LakePaths, has_manifest

        lake = _lake(args.patients, 2019, 2021, CACHE)
        if not has_manifest(LakePaths(str(lake)), "events"):
            extract_events(lake)
        truth = CACHE / f"synth-{args.patients}-2019-2021-seed1" / "truth"
    else:
        lake, truth = args.lake, args.truth or args.lake.parent / "truth"
    extract = {"patients": args.patients, "years": [2019, 2021], "seed": args.seed}
    if "screening" in args.parts:
        report = Path(tempfile.mkdtemp(prefix="sndslab-bench-screening-")) / "report.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(lake), str(truth),
               str(report)]  # fmt: skip
        seconds, peak = _run_child(cmd, "the screening")
        out = json.loads(report.read_text("utf-8"))
        out |= {"extract": extract, "process_seconds": round(seconds, 2),
                "peak_rss_mib": round(peak / 2**20, 1)}  # fmt: skip
        _save("screening", out)
        print(json.dumps({k: out[k] for k in ("seconds_total", "cases", "drugs_screened")}))
    if "tick" in args.parts:
        res = _tick(
            lake, truth, args.smoothness, args.ridge, args.c_tv, args.c_group_l1,
            args.variants, args.tick_max_iter,
        )  # fmt: skip
        _save("tick_side_by_side", res | {"extract": extract, "command": " ".join(sys.argv)})
        print(json.dumps(res)[:2000])


if __name__ == "__main__":
    main()
