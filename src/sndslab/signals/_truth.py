"""Score a screening against the generator's truth (manifest section ``drug_effects``).

- **recall**: injected drugs flagged at the study's FDR, over all injected drugs and over
  those screened (enough exposed cases);
- **IRR coverage**: for each screened injected drug, whether its injected relative incidence
  lies inside the 95 % CI of the estimate over its injected risk window
  (:meth:`Screening.window_estimate` over ``lag_start``..``lag_end`` days);
- **false positives**: flagged null drugs, each with the bias mechanisms of the truth that
  touch it (``event_dependent_exposure``, ``time_varying_confounding``, ``co_prescription``,
  ``condition_onset_confounding``), or ``chance`` when none does;
- **biased nulls flagged**: null drugs named by a bias and flagged;
- **null coverage**: share of unbiased null drugs whose CI of each tested window contains 1
  (nominal 0.95).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sndslab.errors import SndslabError
from sndslab.signals._screen import Screening

__all__ = ["score_against_truth"]


def _manifest(truth: str | Path | dict[str, Any]) -> dict[str, Any]:
    if isinstance(truth, dict):
        return truth
    p = Path(truth)
    if p.is_dir():
        p = p / "manifest.json"
    if not p.is_file():
        raise SndslabError(f"no truth manifest at {p}")
    data: dict[str, Any] = json.loads(p.read_text("utf-8"))
    return data


def score_against_truth(screening: Screening, truth: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The scores of a fitted screening against a truth manifest (a path, a ``truth/``
    directory or the loaded manifest); JSON-ready."""
    m = _manifest(truth)
    if "drug_effects" not in m:
        raise SndslabError("the truth manifest has no drug_effects section")
    de = m["drug_effects"]
    drugs = screening.drugs_.to_pylist()
    by_atc = {d["atc"]: d for d in drugs}
    fdr = screening.study.screening.fdr
    effects = {e["atc"]: e for e in de["effects"]}
    biases: dict[str, list[str]] = {}
    for b in de.get("biases", []):
        nulls = b.get("null_drugs")
        if isinstance(nulls, list):
            for a in nulls:
                if a not in effects:
                    biases.setdefault(a, []).append(str(b["type"]))
    injected = []
    for atc, e in sorted(effects.items()):
        d = by_atc.get(atc)
        row: dict[str, Any] = {
            "atc": atc,
            "inn": e.get("inn", ""),
            "irr": float(e["irr"]),
            "lag_start": int(e["lag_start"]),
            "lag_end": int(e["lag_end"]),
            "recoverable": bool(e.get("recoverable", True)),
            "screened": d is not None,
            "flagged": bool(d and d["flagged"]),
            "q_value": None if d is None else d["q_value"],
            "exposed_cases": None if d is None else d["exposed_cases"],
        }
        if d is not None:
            est = screening.window_estimate(atc, int(e["lag_start"]), int(e["lag_end"]))
            row |= {
                "estimate": est["irr"],
                "lower": est["lower"],
                "upper": est["upper"],
                "covered": bool(est["lower"] <= float(e["irr"]) <= est["upper"]),
            }
        injected.append(row)
    screened_inj = [r for r in injected if r["screened"]]
    flagged_nulls = [d for d in drugs if d["flagged"] and d["atc"] not in effects]
    false_positives = [
        {"atc": d["atc"], "drug_name": d["drug_name"], "q_value": d["q_value"],
         "biases": biases.get(d["atc"], ["chance"])}
        for d in flagged_nulls
    ]  # fmt: skip
    windows = list(screening.study.screening.windows)
    unbiased_nulls = [d for d in drugs if d["atc"] not in effects and d["atc"] not in biases]
    coverage = {
        w: (
            float(np.mean([d[f"{w}_lower"] <= 1.0 <= d[f"{w}_upper"] for d in unbiased_nulls]))
            if unbiased_nulls
            else None
        )
        for w in windows
    }
    biased_screened = [d for d in drugs if d["atc"] in biases]
    n_inj = len(injected)
    return {
        "fdr": fdr,
        "screened_drugs": len(drugs),
        "injected": n_inj,
        "injected_screened": len(screened_inj),
        "recall": sum(r["flagged"] for r in injected) / n_inj if n_inj else None,
        "recall_screened": (
            sum(r["flagged"] for r in screened_inj) / len(screened_inj) if screened_inj else None
        ),
        "irr_coverage": (
            sum(r["covered"] for r in screened_inj) / len(screened_inj) if screened_inj else None
        ),
        "flagged": sum(d["flagged"] for d in drugs),
        "false_positives": false_positives,
        "false_discovery_proportion": (
            len(flagged_nulls) / max(sum(d["flagged"] for d in drugs), 1)
        ),
        "biased_nulls_screened": len(biased_screened),
        "biased_nulls_flagged": sum(d["flagged"] for d in biased_screened),
        "null_ci_coverage": coverage,
        "unbiased_nulls_screened": len(unbiased_nulls),
        "effects": injected,
    }
