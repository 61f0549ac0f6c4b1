"""Leak check: do identifiers or raw row order predict the injected truth better than chance?

A synthetic extract is unfair when an artefact of generation (a sequence in person order, rows
written person by person) tells an analyst something the real data would not. This module
measures, for an *order* of records (an identifier sorted numerically, or the row order of
a raw file) within a *scope* (the set of records the identifier numbers, e.g. an
establishment-year, or one written batch of a file), how well **adjacency in that order**
predicts truth variables:

- :func:`adjacency_auc`: AUC of the per-record feature "the previous or next record in the
  order belongs to the same person" against a record label (30-day readmission of an MCO
  stay: ``truth/stays.parquet`` ``readmitted_30d``);
- :func:`pair_auc`: AUC with which closeness in the order tells pairs of records of the same
  person from pairs of random records of the scope ("same person"; with the fictitious-NIR
  claims as anchors, whether the neighbouring claim reveals the real person behind a
  fictitious NIR, truth ``identities`` of role ``fictitious``, BEN_CDI_NIR ≠ 00);
- :func:`reidentification_rate`: the share of anchor records (fictitious-NIR claims) whose
  previous or next record in the order belongs to their real person.

Identifiers may legitimately follow public dates (RSA_NUM is numbered in admission order,
which EXE_SOI_DTD already gives), so every AUC can be taken **relative to a reference
order**: the order an analyst gets anyway from public columns, ties broken at random (default:
a random order). The feature is then "adjacent in the tested order" minus "adjacent in the
reference order", and an AUC near 0.5 means the order reveals nothing beyond the reference.
A leak-free order gives AUCs near 0.5; a person-ordered sequence gives AUCs near 1.

:func:`extract_leaks` runs the checks on a generated extract (``raw/`` and ``truth/``).
AUCs are rank-based (Mann–Whitney U, ties counted one half; Hanley & McNeil, *Radiology*
1982;143:29–36), vectorised in numpy.

>>> import numpy as np
>>> person = np.repeat(np.arange(200), 3)
>>> group = np.zeros(600, np.int64)
>>> leaky = np.arange(600)  # numbered person by person
>>> bool(pair_auc(person, group, leaky) > 0.9)
True
>>> fair = np.random.default_rng(0).permutation(600)
>>> bool(0.4 < pair_auc(person, group, fair) < 0.6)
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = [
    "adjacency_auc",
    "extract_leaks",
    "neighbour_same_person",
    "pair_auc",
    "rank_auc",
    "reidentification_rate",
]


def rank_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the binary ``label`` (ties count 1/2).

    NaN when one class is empty.

    >>> rank_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    0.75
    """
    score = np.asarray(score, np.float64)
    label = np.asarray(label, bool)
    n_pos = int(label.sum())
    n_neg = len(label) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    s = score[order]
    bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
    lengths = np.diff(bounds)
    mid = (bounds[:-1] + bounds[1:] + 1) / 2.0  # average 1-based rank of each tie run
    ranks = np.empty(len(s))
    ranks[order] = np.repeat(mid, lengths)
    u = ranks[label].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _group_ids(group: np.ndarray) -> np.ndarray:
    """Dense int ids of group labels (any dtype, or a tuple of arrays for a composite group)."""
    if isinstance(group, tuple):
        parts = [np.unique(np.asarray(g), return_inverse=True)[1] for g in group]
        ids = np.zeros(len(parts[0]), np.int64)
        for p in parts:
            ids = ids * (int(p.max()) + 1 if len(p) else 1) + p
        return np.unique(ids, return_inverse=True)[1].astype(np.int64)
    return np.unique(np.asarray(group), return_inverse=True)[1].astype(np.int64)


def _ranks(group: np.ndarray, key: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Position of each record in its group when sorted by ``key`` (ties, or no key: random)."""
    n = len(group)
    tiebreak = rng.random(n)
    if key is None:
        order = np.lexsort((tiebreak, group))
    else:
        order = np.lexsort((tiebreak, np.asarray(key), group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    run = np.cumsum(np.r_[True, g[1:] != g[:-1]]) - 1
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - starts[run]
    return rank


def _neighbour_same(group: np.ndarray, rank: np.ndarray, person: np.ndarray) -> np.ndarray:
    order = np.lexsort((rank, group))
    g, p = group[order], person[order]
    same_next = np.r_[(g[1:] == g[:-1]) & (p[1:] == p[:-1]), False]
    same_prev = np.r_[False, same_next[:-1]]
    out = np.empty(len(group), bool)
    out[order] = same_next | same_prev
    return out


def neighbour_same_person(
    person: np.ndarray, group: Any, key: np.ndarray | None, seed: int = 0
) -> np.ndarray:
    """Per record: does the previous or next record of its group, in ``key`` order (ties
    broken at random; ``None``: a random order), belong to the same person?"""
    g = _group_ids(group)
    rank = _ranks(g, key, np.random.default_rng(seed))
    return _neighbour_same(g, rank, np.asarray(person))


def adjacency_auc(
    label: np.ndarray,
    person: np.ndarray,
    group: Any,
    key: np.ndarray | None,
    *,
    reference: np.ndarray | None = None,
    relative: bool = True,
    anchors: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """AUC of the adjacency feature "a neighbour in ``key`` order is the same person" for
    the record ``label`` (e.g. 30-day readmission), over ``anchors`` (default: all records).

    With ``relative`` (default) the feature is taken minus the same feature in the
    ``reference`` order (public columns, random ties; ``None``: a random order), so only what
    the order adds to the reference counts.
    """
    g = _group_ids(group)
    person = np.asarray(person)
    rng = np.random.default_rng(seed)
    score = _neighbour_same(g, _ranks(g, key, rng), person).astype(np.float64)
    if relative:
        score -= _neighbour_same(g, _ranks(g, reference, rng), person)
    sel = np.ones(len(g), bool) if anchors is None else np.asarray(anchors, bool)
    return rank_auc(score[sel], np.asarray(label, bool)[sel])


def _partner(run: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For records sorted by ``run`` (equal ids contiguous), a random other record of the same
    run (-1 for runs of one record)."""
    n = len(run)
    new = np.r_[True, run[1:] != run[:-1]]
    starts = np.flatnonzero(new)
    length = np.diff(np.r_[starts, n])
    r = np.cumsum(new) - 1
    pos = np.arange(n) - starts[r]
    size = length[r]
    offset = 1 + np.floor(rng.random(n) * np.maximum(size - 1, 1)).astype(np.int64)
    partner = starts[r] + (pos + offset) % size
    return np.where(size > 1, partner, -1)


def pair_auc(
    person: np.ndarray,
    group: Any,
    key: np.ndarray | None,
    *,
    reference: np.ndarray | None = None,
    anchors: np.ndarray | None = None,
    seed: int = 0,
    repeats: int = 5,
) -> float:
    """AUC with which closeness in ``key`` order tells same-person pairs from random pairs.

    For every anchor record (default: all) with another record of the same person in its
    group, one such record (a positive pair) and one random record of the group (a negative
    pair, positive only by chance) are drawn; the score of a pair is minus the distance of
    its records in ``key`` order, plus their distance in the ``reference`` order (if any),
    both divided by the group size. 0.5: the order says nothing about who
    is who; 1: records of one person are next to each other. The pairs of ``repeats``
    independent draws (partners and tie-breaks) are pooled to lower the variance.
    """
    g = _group_ids(group)
    person = np.asarray(person)
    p_id = np.unique(person, return_inverse=True)[1].astype(np.int64)
    rng = np.random.default_rng(seed)
    draws = [_pair_draw(g, person, p_id, key, reference, anchors, rng) for _ in range(repeats)]
    return rank_auc(np.concatenate([d[0] for d in draws]), np.concatenate([d[1] for d in draws]))


def _pair_draw(
    g: np.ndarray,
    person: np.ndarray,
    p_id: np.ndarray,
    key: np.ndarray | None,
    reference: np.ndarray | None,
    anchors: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of one draw of positive and negative pairs (see :func:`pair_auc`)."""
    n = len(g)
    rank = _ranks(g, key, rng).astype(np.float64)
    # no reference: nothing to subtract (a random order would only add noise)
    ref = np.zeros(n) if reference is None else _ranks(g, reference, rng).astype(np.float64)
    size = np.bincount(g)[g].astype(np.float64)
    # positive partners: same group and person; negative partners: same group
    order = np.lexsort((rng.random(n), p_id, g))
    pos = np.full(n, -1, np.int64)
    run = g[order] * (int(p_id.max()) + 1 if n else 1) + p_id[order]
    part = _partner(run, rng)
    pos[order] = np.where(part >= 0, order[np.maximum(part, 0)], -1)
    order = np.lexsort((rng.random(n), g))
    neg = np.full(n, -1, np.int64)
    part = _partner(g[order], rng)
    neg[order] = np.where(part >= 0, order[np.maximum(part, 0)], -1)
    sel = (pos >= 0) & (neg >= 0)
    if anchors is not None:
        sel &= np.asarray(anchors, bool)
    i = np.flatnonzero(sel)
    j = np.r_[pos[i], neg[i]]
    ii = np.r_[i, i]

    score = (np.abs(ref[ii] - ref[j]) - np.abs(rank[ii] - rank[j])) / np.maximum(size[ii] - 1, 1)
    return score, person[ii] == person[j]


def reidentification_rate(
    anchors: np.ndarray, person: np.ndarray, group: Any, key: np.ndarray | None, seed: int = 0
) -> float:
    """Share of ``anchors`` whose previous or next record in ``key`` order (within its group)
    belongs to the anchor's (true) person."""
    same = neighbour_same_person(person, group, key, seed)
    anchors = np.asarray(anchors, bool)
    return float(same[anchors].mean()) if anchors.any() else float("nan")


# ---------------------------------------------------------------------------------------------
# checks on a generated extract
# ---------------------------------------------------------------------------------------------


def _chunk_of(person: np.ndarray, chunk_size: int) -> np.ndarray:
    """Chunk of each person id (persons are numbered chunk by chunk from 0)."""
    return np.asarray(person, np.int64) // max(int(chunk_size), 1)


def _rank_of(*keys: np.ndarray) -> np.ndarray:
    """Rank of each row when sorted by ``keys`` (first key most significant)."""
    order = np.lexsort(tuple(reversed(keys)))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _np(t: pa.Table, name: str) -> np.ndarray:
    return np.asarray(t.column(name).to_numpy(zero_copy_only=False))


def extract_leaks(out_dir: Path | str, *, seed: int = 0) -> dict[str, float]:
    """Run the leak checks on a generated extract; returns named AUCs and rates.

    Keys ending in ``_auc`` are AUCs (expected in [0.4, 0.6] for a fair extract); keys ending
    in ``_rate`` are re-identification rates with their chance level (``_chance``).
    ``raw_order`` checks use each written batch (one chunk's rows of a file) as scope, keys
    ending in ``_across_chunks`` the whole file (the residual chunk-membership leak). Keys
    ending in ``_unadjusted`` are AUCs not taken relative to the public dates (for
    comparison with the issue's figures; dates legitimately explain part of them). Persons
    are numbered chunk by chunk from 0, so a row's chunk is its person id // ``chunk_size``.
    """
    out = Path(out_dir)
    raw, truth = out / "raw", out / "truth"
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    chunk_size = int(manifest["config"]["chunk_size"])
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    res: dict[str, float] = {}

    res.update(_mco_leaks(con, raw, truth, chunk_size, seed))
    res.update(_dcir_leaks(con, raw, truth, chunk_size, seed))
    return res


def _mco_leaks(
    con: duckdb.DuckDBPyConnection, raw: Path, truth: Path, chunk_size: int, seed: int
) -> dict[str, float]:
    """RSA_NUM within (ETA_NUM, year) and the row order of T_MCOaaB, against readmission and
    same person (reference: the admission date EXE_SOI_DTD of T_MCOaaC)."""
    files = sorted(raw.iterdir())
    con.register("b", _read_files([p for p in files if _is(p, "B")], ["ETA_NUM", "RSA_NUM"]))
    con.register(
        "c", _read_files([p for p in files if _is(p, "C")], ["ETA_NUM", "RSA_NUM", "EXE_SOI_DTD"])
    )
    stays = f"read_parquet('{truth / 'stays.parquet'}')"
    has_eta = "eta_num" in [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {stays}").fetchall()]
    on_eta = "s.eta_num = b.ETA_NUM AND " if has_eta else ""
    mco = con.sql(
        f"""
        SELECT dense_rank() OVER (ORDER BY b.ETA_NUM) AS eta, b.RSA_NUM::BIGINT AS num,
               b._file, b._row, l.person_id,
               strptime(left(c.EXE_SOI_DTD, 9), '%d%b%Y')::DATE - DATE '2000-01-01' AS entry,
               s.readmitted_30d
        FROM b
        JOIN c ON c.ETA_NUM = b.ETA_NUM AND c.RSA_NUM = b.RSA_NUM AND c._file = b._file
        JOIN read_parquet('{truth / "pmsi_links.parquet"}') l
          ON l.product = 'mco' AND l.eta_num = b.ETA_NUM AND l.number = b.RSA_NUM
         AND l.year = 2000 + b._year
        LEFT JOIN {stays} s
          ON {on_eta} s.rsa_num = b.RSA_NUM AND s.person_id = l.person_id
        """
    ).to_arrow_table()
    person = _np(mco, "person_id").astype(np.int64)
    readmitted = _np(mco, "readmitted_30d")
    stay = np.array([v is not None for v in readmitted], bool)
    label = np.where(stay, readmitted, False).astype(bool)
    num, entry, row = _np(mco, "num"), _np(mco, "entry"), _np(mco, "_row")
    eta = _np(mco, "eta")
    file = _np(mco, "_file")
    scope = (eta, file)  # RSA_NUM is unique per establishment and year
    batch = (file, _chunk_of(person, chunk_size))  # one written batch of a file
    listed = _rank_of(eta, entry)  # public order: establishment, admission day
    return {
        "rsa_num.readmission_auc": adjacency_auc(
            label, person, scope, num, reference=entry, anchors=stay, seed=seed
        ),
        "rsa_num.readmission_unadjusted": adjacency_auc(
            label, person, scope, num, relative=False, anchors=stay, seed=seed
        ),
        "rsa_num.readmission_global_unadjusted": adjacency_auc(
            label, person, file, num, relative=False, anchors=stay, seed=seed
        ),
        "rsa_num.same_person_auc": pair_auc(person, scope, num, reference=entry, seed=seed),
        "raw_order.T_MCOaaB.readmission_auc": adjacency_auc(
            label, person, batch, row, reference=listed, anchors=stay, seed=seed
        ),
        "raw_order.T_MCOaaB.same_person_auc": pair_auc(
            person, batch, row, reference=listed, seed=seed
        ),
        "raw_order.T_MCOaaB.same_person_across_chunks": pair_auc(
            person, file, row, reference=listed, seed=seed
        ),
    }


def _dcir_leaks(
    con: duckdb.DuckDBPyConnection, raw: Path, truth: Path, chunk_size: int, seed: int
) -> dict[str, float]:
    """DCT_ORD_NUM within (ORG_CLE_NUM, FLX_DIS_DTD) and the row order of ER_PRS_F, against
    same person and fictitious-NIR re-identification (truth ``identities``)."""
    cols = ["DCT_ORD_NUM", "FLX_DIS_DTD", "ORG_CLE_NUM", "PRS_ORD_NUM", "BEN_NIR_PSA"]
    cols += ["BEN_RNG_GEM"]
    files = sorted(p for p in raw.iterdir() if p.name.startswith("ER_PRS_F_"))
    con.register("prs", _read_files(files, cols))
    ident = f"read_parquet('{truth / 'identities.parquet'}')"
    lines = con.sql(
        f"""
        SELECT dense_rank() OVER (ORDER BY p.ORG_CLE_NUM) AS org, p.DCT_ORD_NUM::BIGINT AS dct,
               p.PRS_ORD_NUM::BIGINT AS prs_ord,
               strptime(p.FLX_DIS_DTD, '%d/%m/%Y')::DATE - DATE '2000-01-01' AS flow,
               p._file, p._row, i.person_id, i.role = 'fictitious' AS fict
        FROM prs p JOIN {ident} i
          ON i.ben_nir_psa = p.BEN_NIR_PSA AND i.ben_rng_gem = p.BEN_RNG_GEM::BIGINT
        """
    ).to_arrow_table()
    org = _np(lines, "org")
    dct, flow, prs_ord = _np(lines, "dct"), _np(lines, "flow"), _np(lines, "prs_ord")
    person = _np(lines, "person_id").astype(np.int64)
    fict = _np(lines, "fict").astype(bool)
    row, file = _np(lines, "_row"), _np(lines, "_file")
    # décomptes: one record per (organism, flow, DCT_ORD_NUM)
    o = np.lexsort((dct, flow, org))
    first = o[
        np.r_[True, (np.diff(dct[o]) != 0) | (np.diff(flow[o]) != 0) | (org[o][1:] != org[o][:-1])]
    ]
    d_scope = (org[first], flow[first])  # DCT_ORD_NUM is unique per organism and flow
    d_person, d_fict, d_num = person[first], fict[first], dct[first]
    listed = _rank_of(file, flow, org, dct, prs_ord)  # public order of the lines
    batch = (file, _chunk_of(person, chunk_size))
    return {
        "dct_ord_num.same_person_auc": pair_auc(d_person, d_scope, d_num, seed=seed, repeats=1),
        "dct_ord_num.fictitious_auc": pair_auc(d_person, d_scope, d_num, anchors=d_fict, seed=seed),
        "dct_ord_num.fictitious_reidentification_rate": reidentification_rate(
            d_fict, d_person, d_scope, d_num, seed=seed
        ),
        "dct_ord_num.fictitious_reidentification_chance": reidentification_rate(
            d_fict, d_person, d_scope, None, seed=seed
        ),
        "dct_ord_num.fictitious_reidentification_global_rate": reidentification_rate(
            d_fict, d_person, np.zeros(len(d_num), np.int64), d_num, seed=seed
        ),
        "raw_order.ER_PRS_F.same_person_auc": pair_auc(
            person, batch, row, reference=listed, seed=seed, repeats=1
        ),
        "raw_order.ER_PRS_F.fictitious_auc": pair_auc(
            person, batch, row, reference=listed, anchors=fict, seed=seed
        ),
        "raw_order.ER_PRS_F.same_person_across_chunks": pair_auc(
            person, file, row, reference=listed, seed=seed, repeats=1
        ),
    }


def _is(path: Path, suffix: str) -> bool:
    """Is ``path`` a yearly MCO file of table suffix ``suffix`` (T_MCO20B.csv → B)?"""
    stem = path.name.split(".")[0]
    return stem.startswith("T_MCO") and stem[7:] == suffix and stem[5:7].isdigit()


def _read_files(files: list[Path], columns: list[str]) -> pa.Table:
    parts = []
    for k, f in enumerate(files):
        t = pacsv.read_csv(
            f,
            parse_options=pacsv.ParseOptions(delimiter=";"),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns, column_types=dict.fromkeys(columns, pa.string())
            ),
        )
        n = t.num_rows
        stem = f.name.split(".")[0]
        year = int(stem[-2:]) if stem[-2:].isdigit() else int(stem[5:7])
        t = t.append_column("_file", pa.array(np.full(n, k, np.int64)))
        t = t.append_column("_year", pa.array(np.full(n, year, np.int64)))
        parts.append(t.append_column("_row", pa.array(np.arange(n, dtype=np.int64))))
    return pa.concat_tables(parts)
