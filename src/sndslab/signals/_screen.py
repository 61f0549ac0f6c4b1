"""Screening many drugs at once with a ConvSCCS: rank, control the false discovery rate,
report per drug the relative incidence per lag and per lag window with its CI, the q-value
and the number of exposed cases.

For every lag window (``screening.windows``, e.g. ``early`` = lags 0–4) the drug's log
relative incidence is the mean of its lag coefficients; its variance comes from the drug's
block of the penalised covariance. A drug's p-value is the smallest two-sided window p-value
× the number of windows (Bonferroni inside the drug); q-values are Benjamini–Hochberg's
(Benjamini & Hochberg, JRSS B 1995) over the screened drugs. A drug is *flagged* when its
q-value is ≤ ``screening.fdr``, its most significant window raises the incidence, and it is
not *event-dependent*: a drug whose pre-exposure relative incidence is significantly above 1
(lower 95 % limit > 1) and at least as high as its most significant window's is a drug
started because of the outcome (analgesics, thromboprophylaxis after a fracture), whose
post-purchase excess cannot be read as an effect (Whitaker et al., BMJ 2018;363:k4181 on
event-dependent exposures in SCCS); it is reported with ``event_dependent`` set and not
flagged.
"""

from __future__ import annotations

import time
from typing import Any, Self

import numpy as np
import pyarrow as pa
from scipy.stats import norm

from sndslab.analysis import Analysis, ReleaseCandidate
from sndslab.errors import SndslabError
from sndslab.lake import Lake, relation_or_none
from sndslab.signals._convsccs import ConvDesign, build_design, fit_convsccs
from sndslab.signals._data import Population, StudyData, default_population
from sndslab.signals._spec import StudySpec

__all__ = ["SIGNAL_COLUMNS", "Screening", "benjamini_hochberg"]

PRE_WINDOW = "pre_exposure"

#: Columns of a screening's signal table (``Screening.signals_``, ``marts.signals``).
SIGNAL_COLUMNS = pa.schema(
    [
        ("study", pa.string()),
        ("atc", pa.string()),
        ("drug_name", pa.string()),
        ("kind", pa.string()),
        ("lag_window", pa.string()),
        ("lag_first", pa.int64()),
        ("lag_last", pa.int64()),
        ("day_first", pa.int64()),
        ("day_last", pa.int64()),
        ("exposed_cases", pa.int64()),
        ("exposed_events", pa.int64()),
        ("log_irr", pa.float64()),
        ("se", pa.float64()),
        ("irr", pa.float64()),
        ("lower", pa.float64()),
        ("upper", pa.float64()),
        ("p_value", pa.float64()),
        ("q_value", pa.float64()),
        ("flagged", pa.bool_()),
        ("event_dependent", pa.bool_()),
        ("rank", pa.int64()),
    ]
)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (NaN p-values stay NaN).

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.5]
    """
    p = np.asarray(p, np.float64)
    q = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(ok)
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


class Screening(Analysis):
    """ConvSCCS screening of every drug of ``study`` (see the module docstring).

    After ``fit``: ``signals_`` (Arrow, :data:`SIGNAL_COLUMNS`: one row per drug × lag and per
    drug × lag window), ``drugs_`` (one row per drug: windows, p, q, flagged, rank),
    ``attrition_``, ``n_cases_``, ``n_drugs_``, ``fit_seconds_``, ``design_seconds_``,
    ``converged_``.
    """

    def __init__(
        self,
        study: StudySpec,
        population: Population | None = None,
        confidence: float = 0.95,
        keep_design: bool = False,
    ) -> None:
        self.study = study
        self.population = population
        self.confidence = confidence
        self.keep_design = keep_design

    def fit(self, lake: Lake) -> Self:
        if not 0 < self.confidence < 1:
            raise SndslabError(f"confidence {self.confidence} must be in (0, 1)")
        s = self.study.screening
        t0 = time.perf_counter()
        data = StudyData(lake, self.study, self.population or default_population)
        try:
            data.build()
            if data.count("cases") == 0:
                raise SndslabError(
                    f"study {self.study.name}: outcome {self.study.outcome.name}: no case (no "
                    "event during the observation of the population)"
                )
            design = build_design(data)
            names = _drug_names(lake)
        finally:
            data.drop_all()
        self.attrition_ = data.attrition + design.attrition
        if not design.drugs:
            raise SndslabError(
                f"study {self.study.name}: no drug has {s.min_exposed_cases} exposed cases or "
                "more (screening.min_exposed_cases): nothing to screen"
            )
        if design.y.sum() == 0:
            raise SndslabError(
                f"study {self.study.name}: no outcome event left in the screened buckets"
            )
        self.design_seconds_ = time.perf_counter() - t0
        t1 = time.perf_counter()
        fit = fit_convsccs(design, s.smoothness, s.ridge)
        self.fit_seconds_ = time.perf_counter() - t1
        self.converged_ = fit.converged
        self.n_cases_ = len(design.n_buckets)
        self.n_drugs_ = len(design.drugs)
        self.coef_ = fit.coef
        self.lag_coef_ = {a: fit.coef[design.block(j)] for j, a in enumerate(design.drugs)}
        self.lag_cov_ = dict(zip(design.drugs, fit.blocks, strict=True))
        if self.keep_design:
            self.design_ = design
        self._tables(design, fit.coef, fit.blocks, names)
        return self

    def _tables(
        self,
        design: ConvDesign,
        coef: np.ndarray,
        blocks: list[np.ndarray],
        names: dict[str, str],
    ) -> None:
        s = self.study.screening
        z = float(norm.ppf(0.5 + self.confidence / 2))
        pre, b = design.pre_lags, design.bucket_days
        windows: list[tuple[str, int, int]] = []
        if pre:
            windows.append((PRE_WINDOW, -pre, -1))
        windows += [(n, a, c) for n, (a, c) in s.windows.items()]
        tested = [w for w in windows if w[0] != PRE_WINDOW]
        labels = s.lag_labels()
        drug_rows: list[dict[str, Any]] = []
        lag_rows: list[dict[str, Any]] = []
        for j, atc in enumerate(design.drugs):
            beta = coef[design.block(j)]
            cov = blocks[j]
            base = {
                "study": self.study.name,
                "atc": atc,
                "drug_name": names.get(atc, ""),
                "exposed_cases": int(design.exposed_cases[j]),
                "exposed_events": int(design.exposed_events[j]),
            }
            for k in range(design.n_lags):
                lag = k - pre
                se = float(np.sqrt(max(cov[k, k], 0.0)))
                lag_rows.append(
                    base | _estimate(float(beta[k]), se, z) | {
                        "kind": "lag", "lag_window": labels[k], "lag_first": lag, "lag_last": lag,
                        "day_first": lag * b, "day_last": lag * b + b - 1,
                    }
                )  # fmt: skip
            per: dict[str, Any] = {}
            for name, a, c in windows:
                idx = np.arange(a + pre, c + pre + 1)
                w = np.full(len(idx), 1.0 / len(idx))
                est = float(w @ beta[idx])
                se = float(np.sqrt(max(w @ cov[np.ix_(idx, idx)] @ w, 0.0)))
                p = float(2 * norm.sf(abs(est / se))) if se > 0 else float("nan")
                per[name] = base | _estimate(est, se, z) | {
                    "kind": "window", "lag_window": name, "lag_first": a, "lag_last": c,
                    "day_first": a * b, "day_last": c * b + b - 1, "p_value": p,
                }  # fmt: skip
            ps = [per[n]["p_value"] for n, _, _ in tested]
            best = tested[int(np.nanargmin(ps))][0] if not np.all(np.isnan(ps)) else tested[0][0]
            drug_p = (
                min(float(np.nanmin(ps)) * len(tested), 1.0)
                if not np.all(np.isnan(ps))
                else float("nan")
            )
            drug_rows.append(
                {"atc": atc, "p_value": drug_p, "best_window": best,
                 "best_log_irr": per[best]["log_irr"], "windows": per}
            )  # fmt: skip
        q = benjamini_hochberg(np.array([d["p_value"] for d in drug_rows]))
        effect = np.array([-d["best_log_irr"] for d in drug_rows])
        order = np.lexsort((effect, np.nan_to_num(q, nan=2.0)))
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        out: list[dict[str, Any]] = []
        summary: list[dict[str, Any]] = []
        by_atc: dict[str, dict[str, Any]] = {}
        for j, d in enumerate(drug_rows):
            pre_w = d["windows"].get(PRE_WINDOW)
            event_dependent = bool(
                pre_w is not None and pre_w["lower"] > 1.0 and pre_w["log_irr"] >= d["best_log_irr"]
            )
            flagged = bool(q[j] <= s.fdr and d["best_log_irr"] > 0 and not event_dependent)
            extra = {
                "q_value": float(q[j]),
                "flagged": flagged,
                "event_dependent": event_dependent,
                "rank": int(rank[j]),
            }
            by_atc[d["atc"]] = extra | {"p_value": d["p_value"]}
            for w in d["windows"].values():
                out.append(w | extra | ({} if w["lag_window"] != PRE_WINDOW else {"p_value": None}))
            summary.append(
                {"atc": d["atc"], "drug_name": names.get(d["atc"], ""),
                 "exposed_cases": int(design.exposed_cases[j]),
                 "exposed_events": int(design.exposed_events[j]),
                 "best_window": d["best_window"], "p_value": d["p_value"]} | extra
                | {f"{n}_{k}": d["windows"][n][k] for n, _, _ in windows
                   for k in ("irr", "lower", "upper")}
            )  # fmt: skip
        for r in lag_rows:
            r.update(
                {"p_value": None}
                | {
                    k: by_atc[r["atc"]][k]
                    for k in ("q_value", "flagged", "event_dependent", "rank")
                }
            )
        rows = sorted(
            out + lag_rows, key=lambda r: (r["rank"], r["kind"] != "window", r["lag_first"])
        )
        self.signals_ = pa.Table.from_pylist(rows, schema=SIGNAL_COLUMNS)
        self.drugs_ = pa.Table.from_pylist(sorted(summary, key=lambda r: r["rank"]))

    def window_estimate(self, atc: str, day_first: int, day_last: int) -> dict[str, float]:
        """Relative incidence of ``atc`` over days ``day_first``..``day_last`` after a purchase:
        the mean log relative incidence of the lag bins at least half inside those days (the
        one bin overlapping them when none is), its CI.

        Used to compare an injected effect window with the estimate."""
        self._check_fitted()
        if atc not in self.lag_coef_:
            raise SndslabError(f"drug {atc} was not screened")
        b, pre = self.study.screening.bucket_days, self.study.screening.pre_lags
        lags = np.arange(-pre, self.study.screening.lags)
        overlap = np.minimum(lags * b + b - 1, day_last) - np.maximum(lags * b, day_first) + 1
        inside = lags[overlap * 2 >= b]  # bins at least half inside the days
        if len(inside) == 0:
            inside = lags[overlap > 0][:1]
        if len(inside) == 0:
            raise SndslabError(f"days {day_first}..{day_last} are outside the screened lags")
        idx = inside + pre
        w = np.full(len(idx), 1.0 / len(idx))
        est = float(w @ self.lag_coef_[atc][idx])
        se = float(np.sqrt(max(w @ self.lag_cov_[atc][np.ix_(idx, idx)] @ w, 0.0)))
        z = float(norm.ppf(0.5 + self.confidence / 2))
        return _estimate(est, se, z)

    def summary(self) -> pa.Table:
        """The signal table (:data:`SIGNAL_COLUMNS`): per drug, its lag windows (``kind`` =
        ``window``) and lags (``kind`` = ``lag``) with relative incidence and CI, the drug's
        p-value (on window rows), q-value, flag and rank, and its exposed cases."""
        self._check_fitted()
        return self.signals_

    def to_release(self) -> ReleaseCandidate:
        """The signal table without identifiers, counted on ``exposed_cases`` (persons)."""
        self._check_fitted()
        cols = ["atc", "lag_window", "exposed_cases", "exposed_events", "irr", "lower", "upper",
                "q_value"]  # fmt: skip
        return ReleaseCandidate(
            table=self.signals_.select(cols),
            dimensions=("atc", "lag_window"),
            count_column="exposed_cases",
            measures=("exposed_events", "irr", "lower", "upper", "q_value"),
            title=f"ConvSCCS screening {self.study.name}",
        )


def _estimate(log_irr: float, se: float, z: float) -> dict[str, float]:
    return {
        "log_irr": log_irr,
        "se": se,
        "irr": float(np.exp(log_irr)),
        "lower": float(np.exp(log_irr - z * se)),
        "upper": float(np.exp(log_irr + z * se)),
    }


def _drug_names(lake: Lake) -> dict[str, str]:
    """ATC → active ingredient name (IR_PHA_R ``PHA_NOM_PA``, lower case) when the lake has
    the referential and the column."""
    rel = relation_or_none(lake.con, lake.paths, "int.ref_ir_pha_r")
    if rel is None:
        return {}
    cols = {c.lower() for c in lake.con.sql(f"SELECT * FROM {rel} LIMIT 0").columns}
    if not {"pha_atc_c07", "pha_nom_pa"} <= cols:
        return {}
    rows = lake.con.fetchall(
        f"SELECT PHA_ATC_C07, lower(min(PHA_NOM_PA)) FROM {rel} "
        "WHERE PHA_ATC_C07 IS NOT NULL GROUP BY 1"
    )
    return {str(a): str(n or "") for a, n in rows}
