"""The standard self-controlled case series of one drug (Farrington 1995; Whitaker, Farrington,
Spiessens, Musonda, "Tutorial in biostatistics: the self-controlled case series method",
Stat Med 2006;25:1768-97).

Cases' observation days are classified in the engine (SQL) by risk window of the drug's
exposure eras (``sccs.risk_windows``, counted from each era's first day), a pre-exposure
window of ``sccs.pre_exposure_days`` before each era (it absorbs event-dependent exposure:
drugs started because of an event), age group and season; the days and events of each
case × window × age × season cell are then fitted by conditional Poisson regression
(:mod:`sndslab.signals._cpoisson`). A window without any event has a relative incidence of 0
(its maximum-likelihood estimate): its cells are left out of the fit, which is the profile
likelihood of the other terms; it is reported with no interval. Age or season levels without
events are merged into the level below them; levels the conditional likelihood cannot
identify, or whose estimate diverges (separation in small samples), join the reference level.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pyarrow as pa
from scipy.stats import norm

from sndslab.analysis import Analysis, ReleaseCandidate
from sndslab.errors import SndslabError
from sndslab.lake import Lake
from sndslab.signals._cpoisson import fit_conditional_poisson
from sndslab.signals._data import Population, StudyData, default_population
from sndslab.signals._spec import StudySpec

__all__ = ["SCCS", "sccs_cells"]

_BASELINE = "baseline"
_PRE = "pre_exposure"
_OTHER = "exposed_other"


def _window_case(study: StudySpec, off: str, span: str) -> str:
    """SQL CASE giving the window of a day at ``off`` days from an era start, the era's last
    day being at ``span`` days, prefixed with its priority (risk windows first, then the rest
    of the era, then pre-exposure: overlapping windows of two eras go to the first)."""
    parts = []
    for i, w in enumerate(sorted(study.sccs.risk_windows, key=lambda w: w.start)):
        hi = span if w.end is None else f"least({span}, {w.end})"
        parts.append(f"WHEN {off} BETWEEN {w.start} AND {hi} THEN '{i:03d}{w.name}'")
    parts.append(f"WHEN {off} BETWEEN 0 AND {span} THEN '900{_OTHER}'")
    if study.sccs.pre_exposure_days:
        parts.append(f"WHEN {off} BETWEEN -{study.sccs.pre_exposure_days} AND -1 THEN '950{_PRE}'")
    return "CASE " + " ".join(parts) + " END"


def sccs_cells(data: StudyData, atc: str) -> pa.Table:
    """Case × window × age group × season cells of drug ``atc``: ``case`` (an integer, not
    the person), ``risk_window``, ``age_group``, ``season``, ``days``, ``events``."""
    study = data.study
    s = study.sccs
    eras = data.eras(atc)
    cases = data.tables["cases"]
    groups = list(s.age_groups)
    age_expr = (
        "CASE "
        + " ".join(f"WHEN age >= {g} THEN {g}" for g in sorted(groups, reverse=True))
        + f" ELSE {min(groups) if groups else 0} END"
    )
    window = _window_case(
        study, "datediff('day', e.era_start, d.day)", "datediff('day', e.era_start, e.era_end)"
    )
    season = {
        "month": "month(day)",
        "quarter": "quarter(day)",
        "none": "0",
    }[s.season]
    q = f"""
    WITH c AS (SELECT person_id, observation_start, observation_end, birth_date,
                      dense_rank() OVER (ORDER BY person_id) - 1 AS case_no FROM {cases}),
    days AS (
        SELECT c.person_id, c.case_no, c.birth_date,
               CAST(c.observation_start + CAST(k AS INTEGER) AS DATE) AS day
        FROM c, unnest(range(0, datediff('day', c.observation_start, c.observation_end) + 1))
             AS t(k)),
    tagged AS (
        SELECT d.person_id, d.day, min({window}) AS risk_window FROM days d
        JOIN {eras} e ON e.person_id = d.person_id
         AND d.day BETWEEN e.era_start - {s.pre_exposure_days} AND e.era_end
        GROUP BY d.person_id, d.day),
    full_days AS (
        SELECT d.case_no, d.day,
               coalesce(t.risk_window, '999{_BASELINE}') AS risk_window,
               CAST(floor(datediff('day', d.birth_date, d.day) / 365.25) AS INTEGER) AS age,
               CASE WHEN o.person_id IS NULL THEN 0 ELSE 1 END AS event
        FROM days d
        LEFT JOIN tagged t ON t.person_id = d.person_id AND t.day = d.day
        LEFT JOIN {data.tables["outcomes"]} o ON o.person_id = d.person_id AND o.day = d.day)
    SELECT case_no AS "case", substr(risk_window, 4) AS risk_window, {age_expr} AS age_group,
           CAST({season} AS INTEGER) AS season,
           count(*) AS days, sum(event) AS events
    FROM full_days GROUP BY ALL ORDER BY 1, 2, 3, 4
    """
    return data.lake.con.sql(q).to_arrow()


def _merge_empty_levels(levels: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Levels (sorted) without events merged into the nearest level below with events (the
    lowest ones into the first level with events)."""
    out = levels.copy()
    u = np.unique(levels)
    has = {lv: events[levels == lv].sum() > 0 for lv in u}
    with_events = [lv for lv in u if has[lv]]
    if not with_events:
        return out
    for lv in u:
        if not has[lv]:
            below = [w for w in with_events if w < lv]
            out[levels == lv] = below[-1] if below else with_events[0]
    return out


def _identifiable(
    X: np.ndarray,
    terms: list[tuple[str, str]],
    case: np.ndarray,
    days: np.ndarray,
    events: np.ndarray,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Drop age and season columns that the conditional likelihood cannot identify: only
    within-case contrasts of cases with events inform it, so columns are centred within case
    (day-weighted) and those outside a pivoted QR's independent set are left out (their
    levels join the reference). A risk window that is not identifiable is an error."""
    if X.shape[1] == 0:
        return X, terms
    from scipy.linalg import qr

    _, inv = np.unique(case, return_inverse=True)
    n = inv.max() + 1
    with_events = np.bincount(inv, weights=events, minlength=n) > 0
    rows = with_events[inv]
    w = days.astype(np.float64)
    totals = np.bincount(inv, weights=w, minlength=n)
    means = np.column_stack(
        [np.bincount(inv, weights=w * X[:, j], minlength=n) / totals for j in range(X.shape[1])]
    )
    centred = (X - means[inv])[rows] * np.sqrt(w[rows])[:, None]
    if centred.shape[0] == 0:
        raise SndslabError("no case with an event: nothing to fit")
    _, r, piv = qr(centred, mode="economic", pivoting=True)
    d = np.abs(np.diag(r))
    rank = int((d > 1e-8 * max(d[0], 1e-300)).sum()) if len(d) else 0
    keep = np.zeros(X.shape[1], bool)
    keep[piv[:rank]] = True
    lost = [t for t, k in zip(terms, keep, strict=True) if not k and t[0] == "window"]
    if lost:
        raise SndslabError(
            f"risk window(s) {[lv for _, lv in lost]} cannot be estimated: no case has both "
            "exposed and unexposed time (check the windows and the population)"
        )
    return X[:, keep], [t for t, k in zip(terms, keep, strict=True) if k]


class SCCS(Analysis):
    """Standard SCCS of drug ``atc`` in ``study`` (see the module docstring).

    ``population``: the pluggable population step (default
    :func:`sndslab.signals.default_population`). After ``fit``: ``estimates_`` (one row per
    term: risk windows, pre-exposure window, age groups, seasons), ``cells_`` (the fitted
    cells), ``design_`` (the fitted design: ``X``, ``events``, ``days``, ``case``; columns in
    the order of ``design_terms_``), ``n_cases_``, ``n_exposed_cases_``, ``attrition_``,
    ``converged_``.
    """

    def __init__(
        self,
        study: StudySpec,
        atc: str,
        population: Population | None = None,
        confidence: float = 0.95,
    ) -> None:
        self.study = study
        self.atc = atc
        self.population = population
        self.confidence = confidence

    def fit(self, lake: Lake) -> Self:
        if not 0 < self.confidence < 1:
            raise SndslabError(f"confidence {self.confidence} must be in (0, 1)")
        data = StudyData(lake, self.study, self.population or default_population)
        try:
            data.build()
            if data.count("cases") == 0:
                raise SndslabError(
                    f"study {self.study.name}: no case (no {self.study.outcome.name} event "
                    "during observation)"
                )
            known = lake.con.scalar(
                f"SELECT count(*) FROM {data.tables['purchases']} WHERE atc = '{self.atc}'"
            )
            if not known:
                raise SndslabError(
                    f"study {self.study.name}: drug {self.atc}: no exposed case (no case bought it)"
                )
            cells = sccs_cells(data, self.atc)
            self.attrition_ = data.attrition
        finally:
            data.drop_all()
        self.cells_ = cells
        self._fit_cells(cells)
        return self

    def _fit_cells(self, cells: pa.Table) -> None:
        c = {n: cells.column(n).to_numpy(zero_copy_only=False) for n in cells.column_names}
        window = c["risk_window"].astype(str)
        events = c["events"].astype(np.float64)
        exposed_windows = [w for w in np.unique(window) if w != _BASELINE]
        self.n_cases_ = len(np.unique(c["case"]))
        self.n_exposed_cases_ = len(np.unique(c["case"][(window != _BASELINE) & (window != _PRE)]))
        if self.n_exposed_cases_ == 0:
            raise SndslabError(f"drug {self.atc}: no exposed case during observation")
        empty = [w for w in exposed_windows if events[window == w].sum() == 0]
        keep = ~np.isin(window, empty)
        terms: list[tuple[str, str]] = [("window", w) for w in exposed_windows if w not in empty]
        age = _merge_empty_levels(c["age_group"].astype(np.int64), events)
        season = _merge_empty_levels(c["season"].astype(np.int64), events)
        cols = [(window == w).astype(np.float64) for _, w in terms]
        for name, values in (("age_group", age), ("season", season)):
            levels = np.unique(values[keep])
            for lv in levels[1:]:
                terms.append((name, str(lv)))
                cols.append((values == lv).astype(np.float64))
        X = np.column_stack(cols)[keep] if cols else np.zeros((int(keep.sum()), 0))
        X, terms = _identifiable(X, terms, c["case"][keep], c["days"][keep], events[keep])
        while True:
            fit = fit_conditional_poisson(
                X, events[keep], c["days"][keep].astype(np.float64), c["case"][keep]
            )
            # monotone likelihood (separation): an adjustment level whose estimate diverges
            # joins the reference level, and the model is refitted
            diverged = [
                j for j, (t, _) in enumerate(terms)
                if t != "window" and (abs(fit.coef[j]) > 15 or not fit.se[j] < 50)
            ]  # fmt: skip
            if not diverged:
                break
            kept = [j for j in range(len(terms)) if j not in diverged]
            X, terms = X[:, kept], [terms[j] for j in kept]
        z = float(norm.ppf(0.5 + self.confidence / 2))
        rows: list[dict[str, Any]] = []
        for j, (term, level) in enumerate(terms):
            b, se = float(fit.coef[j]), float(fit.se[j])
            sel = (
                (window == level)
                if term == "window"
                else ((age if term == "age_group" else season) == int(level))
            )
            rows.append(
                {
                    "term": term,
                    "level": level,
                    "log_irr": b,
                    "se": se,
                    "irr": float(np.exp(b)),
                    "lower": float(np.exp(b - z * se)),
                    "upper": float(np.exp(b + z * se)),
                    "events": int(events[sel].sum()),
                    "days": int(c["days"][sel].sum()),
                    "cases": len(np.unique(c["case"][sel])),
                }
            )
        for w in empty:
            sel = window == w
            rows.append(
                {
                    "term": "window", "level": w, "log_irr": float("-inf"), "se": float("nan"),
                    "irr": 0.0, "lower": float("nan"), "upper": float("nan"), "events": 0,
                    "days": int(c["days"][sel].sum()), "cases": len(np.unique(c["case"][sel])),
                }
            )  # fmt: skip
        self.design_terms_ = terms
        self.design_ = {
            "X": X,
            "events": events[keep],
            "days": c["days"][keep].astype(np.float64),
            "case": c["case"][keep],
        }
        self.converged_ = fit.converged
        self.loglik_ = fit.loglik
        self.estimates_ = pa.Table.from_pylist(rows, schema=_ESTIMATES)

    def summary(self) -> pa.Table:
        """One row per term: ``term`` (window, age_group, season), ``level``, ``log_irr``,
        ``se``, ``irr`` and its ``lower``/``upper`` limits, ``events``, ``days``, ``cases``
        (distinct cases with days in the level)."""
        self._check_fitted()
        return self.estimates_

    def to_release(self) -> ReleaseCandidate:
        """The risk-window and pre-exposure estimates, counted on ``cases`` (persons)."""
        self._check_fitted()
        t = self.estimates_.filter(pa.compute.equal(self.estimates_.column("term"), "window"))
        t = t.select(["level", "cases", "events", "irr", "lower", "upper"]).append_column(
            "drug", pa.array([self.atc] * t.num_rows, pa.string())
        )
        return ReleaseCandidate(
            table=t,
            dimensions=("drug", "level"),
            count_column="cases",
            measures=("events", "irr", "lower", "upper"),
            title=f"SCCS of {self.atc} on {self.study.outcome.name}",
        )


_ESTIMATES = pa.schema(
    [
        ("term", pa.string()),
        ("level", pa.string()),
        ("log_irr", pa.float64()),
        ("se", pa.float64()),
        ("irr", pa.float64()),
        ("lower", pa.float64()),
        ("upper", pa.float64()),
        ("events", pa.int64()),
        ("days", pa.int64()),
        ("cases", pa.int64()),
    ]
)
