"""ConvSCCS: lag-resolved relative incidence of many drugs at once (Morel, Bacry, Gaïffas,
Guilloux, Leroy, "ConvSCCS: convolutional self-controlled case series model for lagged
adverse event detection", Biostatistics 2020;21(4):758-774).

Each case's observation is cut in buckets of ``bucket_days`` days from its first day (a last,
partial bucket is left out, its events counted in the attrition). A purchase of drug ``d`` in
bucket ``k`` acts on buckets ``k − pre_lags … k + lags − 1`` with one coefficient per lag: the
log relative incidence is the sum, over drugs and purchases, of the lag coefficients
(a convolution of purchase indicators with a per-drug kernel), plus age-group and season
terms. Pre-exposure lags absorb event-dependent exposure (drugs started because of the
event); fitting every drug jointly separates co-prescribed drugs.

The sparse per-case bucket × lagged-exposure matrix is built in the engine (one row per
non-zero: case, bucket, column), then fitted by penalised conditional Poisson regression
(:mod:`sndslab.signals._cpoisson`) with a quadratic penalty: ``smoothness`` × squared
differences of successive lag coefficients of a drug (a smooth stand-in for tick's total
variation) + ``ridge`` × squared coefficients (a smooth stand-in for its group lasso).
:func:`tick_inputs` gives the same inputs in the shape of tick's ``ConvSCCS.fit`` (one
bucket × drug matrix of purchase indicators per case, moved ``pre_lags`` buckets earlier so
that tick's lag 0 is pre-exposure lag ``−pre_lags``, labels, censoring), so both fits can be
compared on identical data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from sndslab.engines import Connection
from sndslab.signals._cpoisson import ConditionalPoissonFit, fit_conditional_poisson
from sndslab.signals._data import StudyData

__all__ = ["ConvDesign", "build_design", "fit_convsccs", "lag_penalty", "tick_inputs"]


@dataclass
class ConvDesign:
    """The ConvSCCS inputs of a study: rows are (case, interval) in case then interval order
    (an interval is a day or a bucket of ``bucket_days``: ``interval_days``).

    ``drugs``: screened ATC codes (column block ``j`` = drug ``j``'s ``n_lags`` lag columns,
    pre-exposure lags first); ``X``: rows × (drug lags + covariates); ``covariates``: names of
    the age and season columns after the drug blocks; ``onsets``: (case, drug, shifted bucket)
    of every purchase (tick's input); ``exposed_cases``: distinct cases per drug with a
    purchase acting on an observed bucket at a lag ≥ 0; ``exposed_events``: events of the
    cases in such buckets; ``attrition``: counts per rule.
    """

    drugs: list[str]
    n_lags: int
    pre_lags: int
    bucket_days: int
    interval_days: int
    case: np.ndarray
    bucket: np.ndarray
    y: np.ndarray
    X: sp.csr_matrix
    covariates: list[str]
    n_buckets: np.ndarray
    onsets: np.ndarray
    exposed_cases: np.ndarray
    exposed_events: np.ndarray
    attrition: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_drug_columns(self) -> int:
        return len(self.drugs) * self.n_lags

    def block(self, j: int) -> np.ndarray:
        """Column indices of drug ``j``'s lag coefficients."""
        return np.arange(j * self.n_lags, (j + 1) * self.n_lags)


def _arrow(con: Connection, query: str) -> dict[str, np.ndarray]:
    t: pa.Table = con.sql(query).to_arrow()
    return {n: t.column(n).to_numpy(zero_copy_only=False) for n in t.column_names}


def build_design(
    data: StudyData,
    *,
    resolution: Literal["day", "bucket"] = "day",
    kernel: Literal["latest", "convolution"] | None = None,
    covariates: bool = True,
) -> ConvDesign:
    """Build the ConvSCCS inputs of ``data`` (built :class:`StudyData`) in the engine.

    ``resolution="day"`` (the screening): one interval per observed day, lag coefficients
    constant over bins of ``bucket_days`` days (a purchase acts from its own day on, so an
    event earlier the same week falls in the pre-exposure lags, not in lag 0);
    ``"bucket"``: one interval per bucket of ``bucket_days`` days and one coefficient per
    bucket lag, tick's discretisation (:func:`tick_inputs`).

    ``kernel="latest"`` (default at day resolution): on each interval only the lag since the
    drug's latest purchase acts, and the pre-exposure lags of a purchase only outside the
    post-purchase lags of the previous one (SCALPEL3's ``latest_purchase_based`` strategy;
    the risk window of a purchase ends at the next one, as in the generator's truth);
    ``"convolution"`` (default for buckets): every purchase acts through all its lags and
    their effects multiply, tick's ``ConvSCCS`` model.
    """
    if kernel is None:
        kernel = "latest" if resolution == "day" else "convolution"
    # at day resolution the purchase day belongs to the pre-exposure lags unless asked otherwise
    delay = 1 if resolution == "day" and data.study.screening.purchase_day == "pre_exposure" else 0
    study = data.study
    s = study.screening
    con = data.lake.con
    b, pre, lags = s.bucket_days, s.pre_lags, s.lags
    total = pre + lags
    unit, width = (1, b) if resolution == "day" else (b, 1)  # interval days, lag-bin intervals
    cases = data.tables["cases"]
    c = data._table(
        "conv_cases",
        f"""SELECT person_id, observation_start, birth_date,
                   CAST(floor((datediff('day', observation_start, observation_end) + 1)
                              / {unit}) AS INTEGER) AS n_buckets
            FROM {cases}""",
    )
    short = int(con.scalar(f"SELECT count(*) FROM {c} WHERE n_buckets = 0") or 0)
    c2 = data._table(
        "conv_case_no",
        f"""SELECT *, CAST(row_number() OVER (ORDER BY person_id) - 1 AS INTEGER) AS case_no
            FROM {c} WHERE n_buckets > 0""",
    )
    ev = data._table(
        "conv_events",
        f"""SELECT c.case_no, CAST(floor(datediff('day', c.observation_start, o.day) / {unit})
                                   AS INTEGER) AS bucket, count(*) AS events
            FROM {data.tables["outcomes"]} o JOIN {c2} c USING (person_id)
            GROUP BY ALL""",
    )
    n_events = int(con.scalar(f"SELECT coalesce(sum(events), 0) FROM {ev}") or 0)
    tail = int(
        con.scalar(
            f"SELECT coalesce(sum(events), 0) FROM {ev} e JOIN {c2} c USING (case_no) "
            "WHERE e.bucket >= c.n_buckets"
        )
        or 0
    )
    attrition = [
        {"step": "screened cases", "kept": int(con.scalar(f"SELECT count(*) FROM {c2}") or 0),
         "dropped": short, "rule": f"observation shorter than one interval ({unit} days)"},
        {"step": "screened events", "kept": n_events - tail, "dropped": tail,
         "rule": "in the last, partial interval of the case's observation"},
    ]  # fmt: skip
    # onsets: the interval of each purchase, moved pre_lags lag bins earlier
    on = data._table(
        "conv_onsets",
        f"""SELECT DISTINCT c.case_no, p.atc,
                   CAST(floor((datediff('day', c.observation_start, p.day) + {delay}) / {unit})
                        AS INTEGER) - {pre * width} AS shifted
            FROM {data.tables["purchases"]} p JOIN {c2} c USING (person_id)""",
    )
    span = total * width
    on2 = data._table(
        "conv_onsets_in",
        f"""SELECT o.* FROM {on} o JOIN {c2} c USING (case_no)
            WHERE o.shifted <= c.n_buckets - 1 AND o.shifted + {span - 1} >= 0""",
    )
    if kernel == "convolution":
        hits_q = f"""
            SELECT DISTINCT o.case_no, o.atc, o.shifted + l.off AS bucket,
                   CAST(l.off // {width} AS INTEGER) AS lagcol
            FROM {on2} o, (SELECT unnest(range(0, {span})) AS off) l"""
    else:  # the latest purchase only; pre-exposure lags before a purchase outside the
        # post-purchase lags of the previous one
        post, before = lags * width, pre * width
        hits_q = f"""
            WITH o AS (
                SELECT case_no, atc, shifted + {before} AS p,
                       lag(shifted) OVER w + {before} AS prev,
                       lead(shifted) OVER w + {before} AS nxt
                FROM {on} WINDOW w AS (PARTITION BY case_no, atc ORDER BY shifted))
            SELECT case_no, atc, p + k AS bucket, CAST({pre} + k // {width} AS INTEGER) AS lagcol
            FROM o, (SELECT unnest(range(0, {post})) AS k) l
            WHERE nxt IS NULL OR p + k < nxt
            UNION ALL
            SELECT case_no, atc, p - k AS bucket,
                   CAST({pre} - (k + {width - 1}) // {width} AS INTEGER) AS lagcol
            FROM o, (SELECT unnest(range(1, {before + 1})) AS k) l
            WHERE prev IS NULL OR p - k >= prev + {post}"""
    hits = data._table(
        "conv_hits",
        f"""SELECT h.* FROM ({hits_q}) h JOIN {c2} c USING (case_no)
            WHERE h.bucket BETWEEN 0 AND c.n_buckets - 1""",
    )
    exposed = data._table(
        "conv_exposed",
        f"""WITH hit AS (SELECT DISTINCT case_no, atc, bucket FROM {hits} WHERE lagcol >= {pre})
            SELECT atc, count(DISTINCT case_no) AS exposed_cases,
                   coalesce(sum(e.events), 0) AS exposed_events
            FROM hit h LEFT JOIN {ev} e USING (case_no, bucket)
            GROUP BY atc""",
    )
    drug_rows = _arrow(
        con,
        f"""SELECT atc, exposed_cases, exposed_events FROM {exposed}
            WHERE exposed_cases >= {s.min_exposed_cases} ORDER BY atc""",
    )
    n_drugs_all = int(con.scalar(f"SELECT count(*) FROM {exposed}") or 0)
    drugs = [str(a) for a in drug_rows.get("atc", [])]
    attrition.append(
        {"step": "screened drugs", "kept": len(drugs), "dropped": n_drugs_all - len(drugs),
         "rule": f"fewer than {s.min_exposed_cases} exposed cases"}
    )  # fmt: skip
    nb = _arrow(con, f"SELECT case_no, n_buckets FROM {c2} ORDER BY case_no")
    n_buckets = nb["n_buckets"].astype(np.int64) if len(nb["case_no"]) else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_buckets)])
    n_rows = int(offsets[-1])
    case = np.repeat(np.arange(len(n_buckets)), n_buckets)
    bucket = np.arange(n_rows) - offsets[case] if n_rows else np.zeros(0, np.int64)
    y = np.zeros(n_rows)
    evs = _arrow(
        con,
        f"""SELECT e.case_no, e.bucket, e.events FROM {ev} e JOIN {c2} c USING (case_no)
            WHERE e.bucket < c.n_buckets""",
    )
    if len(evs["case_no"]):
        y[offsets[evs["case_no"].astype(np.int64)] + evs["bucket"].astype(np.int64)] = evs["events"]
    # the sparse lagged-exposure matrix, built in the engine
    drug_table = pa.table({"atc": pa.array(drugs, pa.string()),
                           "j": pa.array(np.arange(len(drugs)), pa.int64())})  # fmt: skip
    dname = f"{c2}_drugs"
    con.register_arrow(dname, drug_table)
    data.created.append(dname)
    nz = _arrow(
        con,
        f"""SELECT DISTINCT h.case_no, h.bucket, d.j * {total} + h.lagcol AS col
            FROM {hits} h JOIN {dname} d USING (atc)""",
    )
    onset = _arrow(
        con,
        f"""SELECT o.case_no, d.j, o.shifted FROM {on2} o JOIN {dname} d USING (atc)
            ORDER BY 1, 2, 3""",
    )
    onsets = (
        np.column_stack([onset["case_no"], onset["j"], onset["shifted"]]).astype(np.int64)
        if len(onset["case_no"])
        else np.zeros((0, 3), np.int64)
    )
    k_drug = len(drugs) * total
    rows = (
        offsets[nz["case_no"].astype(np.int64)] + nz["bucket"].astype(np.int64)
        if len(nz["case_no"])
        else np.zeros(0, np.int64)
    )
    blocks = [
        sp.csr_matrix(
            (np.ones(len(rows)), (rows, nz["col"].astype(np.int64) if len(rows) else rows)),
            shape=(n_rows, k_drug),
        )
    ]
    names: list[str] = []
    if covariates and n_rows:
        cov = _arrow(
            con,
            f"""SELECT c.case_no, k AS bucket,
                       CAST(floor(datediff('day', c.birth_date,
                            c.observation_start + CAST(k * {unit} AS INTEGER)) / 365.25)
                            AS INTEGER) AS age,
                       quarter(c.observation_start + CAST(k * {unit} AS INTEGER)) AS season
                FROM {c2} c, unnest(range(0, c.n_buckets)) AS t(k) ORDER BY 1, 2""",
        )
        groups = sorted(study.sccs.age_groups)
        age = cov["age"].astype(np.int64)
        grp = np.full(len(age), groups[0] if groups else 0)
        for g in groups:
            grp[age >= g] = g
        cols: list[np.ndarray] = []
        if s.age_adjustment:
            for g in groups[1:]:
                if (grp == g).any() and y[grp == g].sum() > 0:
                    names.append(f"age_{g}")
                    cols.append((grp == g).astype(np.float64))
        if s.season_adjustment:
            season = cov["season"].astype(np.int64)
            for q in (2, 3, 4):
                if (season == q).any() and y[season == q].sum() > 0:
                    names.append(f"quarter_{q}")
                    cols.append((season == q).astype(np.float64))
        if cols:
            blocks.append(sp.csr_matrix(np.column_stack(cols)))
    X = sp.hstack(blocks, format="csr") if blocks else sp.csr_matrix((n_rows, 0))
    return ConvDesign(
        drugs=drugs,
        n_lags=total,
        pre_lags=pre,
        bucket_days=b,
        interval_days=unit,
        case=case,
        bucket=bucket,
        y=y,
        X=X,
        covariates=names,
        n_buckets=n_buckets,
        onsets=onsets,
        exposed_cases=np.asarray(drug_rows.get("exposed_cases", []), np.int64),
        exposed_events=np.asarray(drug_rows.get("exposed_events", []), np.int64),
        attrition=attrition,
    )


def lag_penalty(
    n_drugs: int, n_lags: int, n_covariates: int, smoothness: float, ridge: float
) -> sp.csr_matrix:
    """``P`` of the quadratic penalty ``½ βᵀPβ``: per drug, ``smoothness`` × DᵀD (D: first
    differences of successive lags) + ``ridge`` × I; covariates unpenalised.

    >>> lag_penalty(1, 3, 1, 1.0, 0.0).toarray()
    array([[ 1., -1.,  0.,  0.],
           [-1.,  2., -1.,  0.],
           [ 0., -1.,  1.,  0.],
           [ 0.,  0.,  0.,  0.]])
    """
    D = sp.diags([-np.ones(n_lags - 1), np.ones(n_lags - 1)], [0, 1], shape=(n_lags - 1, n_lags))
    one = smoothness * (D.T @ D) + ridge * sp.identity(n_lags)
    drugs = sp.block_diag([one] * n_drugs) if n_drugs else sp.csr_matrix((0, 0))
    return sp.csr_matrix(
        sp.block_diag([drugs, sp.csr_matrix((n_covariates, n_covariates))], format="csr")
    )


def fit_convsccs(
    design: ConvDesign,
    smoothness: float,
    ridge: float,
    *,
    covariance: bool = True,
    with_covariates: bool = True,
) -> ConditionalPoissonFit:
    """Penalised conditional Poisson fit of ``design`` (covariance: per-drug blocks)."""
    X = design.X if with_covariates else design.X[:, : design.n_drug_columns]
    n_cov = X.shape[1] - design.n_drug_columns
    P = lag_penalty(len(design.drugs), design.n_lags, n_cov, smoothness, ridge)
    blocks = [design.block(j) for j in range(len(design.drugs))]
    return fit_conditional_poisson(
        X,
        design.y,
        np.full(len(design.y), float(design.interval_days)),
        design.case,
        penalty=P,
        covariance=covariance,
        blocks=blocks,
    )


def tick_inputs(design: ConvDesign) -> tuple[list[sp.csr_matrix], list[np.ndarray], np.ndarray]:
    """``(features, labels, censoring)`` for tick's ``ConvSCCS.fit`` on the same data (a
    ``resolution="bucket"`` design): per
    case a (max buckets × drugs) CSR matrix of purchase indicators at their shifted bucket
    (so that tick's lags ``0 … n_lags − 1`` are this design's lags ``−pre_lags …``), labels
    per bucket (int32) and the number of observed buckets (uint64)."""
    n_cases = len(design.n_buckets)
    T = int(design.n_buckets.max()) if n_cases else 0
    n_drugs = len(design.drugs)
    features: list[sp.csr_matrix] = []
    labels: list[np.ndarray] = []
    on = design.onsets
    order = np.argsort(on[:, 0], kind="stable") if len(on) else np.zeros(0, np.int64)
    on = on[order]
    starts = np.searchsorted(on[:, 0], np.arange(n_cases + 1)) if len(on) else None
    offsets = np.concatenate([[0], np.cumsum(design.n_buckets)])
    for i in range(n_cases):
        if starts is not None:
            o = on[starts[i] : starts[i + 1]]
            # purchases before the first bucket act through later lags: tick only sees onsets
            # inside the window, so they are clipped to bucket 0 (the same in our design is
            # ensured by fitting tick's inputs, see benchmarks/bench_screening.py)
            keep = (o[:, 2] >= 0) & (o[:, 2] < T)
            o = o[keep]
            m = sp.csr_matrix(
                (np.ones(len(o)), (o[:, 2], o[:, 1])), shape=(T, n_drugs), dtype=np.float64
            )
        else:
            m = sp.csr_matrix((T, n_drugs))
        features.append(m)
        lab = np.zeros(T, np.int32)
        lab[: design.n_buckets[i]] = design.y[offsets[i] : offsets[i + 1]].astype(np.int32)
        labels.append(lab)
    return features, labels, design.n_buckets.astype(np.uint64)


def convolution_design(
    onsets: np.ndarray,
    n_buckets: np.ndarray,
    y: np.ndarray,
    drugs: list[str],
    n_lags: int,
    bucket_days: int,
) -> ConvDesign:
    """The design tick's ``ConvSCCS`` fits, from purchase onsets (case, drug, bucket): each
    onset inside the case's observed buckets acts through lags ``0 … n_lags − 1`` (onsets
    before the first bucket are not seen, as in tick). For side-by-side comparisons.

    >>> d = convolution_design(np.array([[0, 0, 1]]), np.array([4]), np.zeros(4), ["A"], 2, 7)
    >>> d.X.toarray().ravel().tolist()
    [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    """
    on = onsets[(onsets[:, 2] >= 0) & (onsets[:, 2] < n_buckets[onsets[:, 0]])]
    offsets = np.concatenate([[0], np.cumsum(n_buckets)])
    rows, cols = [], []
    for lag in range(n_lags):
        b = on[:, 2] + lag
        ok = b < n_buckets[on[:, 0]]
        rows.append(offsets[on[ok, 0]] + b[ok])
        cols.append(on[ok, 1] * n_lags + lag)
    r, c = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(int(offsets[-1]), len(drugs) * n_lags))
    X.sum_duplicates()
    case = np.repeat(np.arange(len(n_buckets)), n_buckets)
    return ConvDesign(
        drugs=list(drugs),
        n_lags=n_lags,
        pre_lags=0,
        bucket_days=bucket_days,
        interval_days=bucket_days,
        case=case,
        bucket=np.arange(len(case)) - offsets[case],
        y=np.asarray(y, np.float64),
        X=X,
        covariates=[],
        n_buckets=np.asarray(n_buckets, np.int64),
        onsets=on,
        exposed_cases=np.zeros(len(drugs), np.int64),
        exposed_events=np.zeros(len(drugs), np.int64),
    )
