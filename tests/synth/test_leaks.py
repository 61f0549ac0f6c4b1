"""Identifiers and raw row order leak nothing (issue 10, item 1 "No leaks").

The session extract (10,000 persons, 2019–2020, seed 11, chunks of 4,000) must give AUCs
within [0.4, 0.6] for every adjacency check of ``sndslab.synth.leakcheck``; the same check
must flag a deliberately leaky (person-ordered) numbering, so that it can fail.
"""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sndslab.synth._numbering import (
    DCT_DOMAIN,
    PMSI_EPOCH,
    PMSI_SLOTS,
    RecordNumbering,
    dcir_line_order,
    order_rows,
    permute,
)
from sndslab.synth.leakcheck import (
    adjacency_auc,
    extract_leaks,
    pair_auc,
    rank_auc,
    reidentification_rate,
)


def _rows(db: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return db.execute(sql).fetchall()


def _one(db: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return db.execute(sql).fetchone()[0]  # type: ignore[index]


@pytest.fixture(scope="module")
def leaks(extract: Path) -> dict[str, float]:
    return extract_leaks(extract)


# -- the leak check itself ----------------------------------------------------------------------


def test_rank_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(3)
    score = rng.integers(0, 5, 300).astype(float)  # many ties
    label = rng.random(300) < 0.3
    pos, neg = score[label], score[~label]
    brute = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert rank_auc(score, label) == pytest.approx(brute)
    assert np.isnan(rank_auc(score, np.zeros(300, bool)))


def test_check_flags_person_ordered_numbers_and_passes_random_ones() -> None:
    rng = np.random.default_rng(0)
    n_persons = 2000
    person = np.repeat(np.arange(n_persons), rng.integers(1, 5, n_persons))
    group = rng.integers(0, 5, len(person))
    leaky = np.arange(len(person))  # a global sequence in person order
    fair = rng.permutation(len(person))
    assert pair_auc(person, group, leaky) > 0.9
    assert 0.45 < pair_auc(person, group, fair) < 0.55
    # a record label: "the person has another record in the group" (like a readmission)
    key = person * 5 + group
    label = np.bincount(key)[key] > 1
    assert adjacency_auc(label, person, group, leaky) > 0.9
    assert 0.45 < adjacency_auc(label, person, group, fair) < 0.55


def test_reference_order_removes_what_public_dates_explain() -> None:
    """Numbers in date order are not a leak when the date is public, person order is."""
    rng = np.random.default_rng(1)
    n = 4000
    person = rng.integers(0, 800, n)
    day = np.sort(rng.integers(0, 60, n))  # a person's records cluster in time
    day = np.where(person % 2 == 0, person // 20, day)
    group = np.zeros(n, np.int64)
    by_day = day * n + rng.permutation(n)  # numbered by day, random within the day
    assert 0.45 < pair_auc(person, group, by_day, reference=day) < 0.55
    assert pair_auc(person, group, by_day) > 0.65  # what the dates alone reveal
    by_person = np.lexsort((day, person))
    key = np.empty(n, np.int64)
    key[by_person] = np.arange(n)
    assert pair_auc(person, group, key, reference=day) > 0.65


# -- the session extract ------------------------------------------------------------------------


def test_no_identifier_or_row_order_predicts_the_truth(leaks: dict[str, float]) -> None:
    aucs = {k: v for k, v in leaks.items() if k.endswith("_auc")}
    assert len(aucs) >= 8
    bad = {k: round(v, 3) for k, v in aucs.items() if not 0.4 <= v <= 0.6}
    assert not bad, bad


def test_fictitious_nir_claims_are_not_reidentified_by_their_neighbours(
    leaks: dict[str, float],
) -> None:
    # main's generator: 98 % of fictitious claims sat next to a claim of their real person
    assert leaks["dct_ord_num.fictitious_reidentification_global_rate"] < 0.05
    assert leaks["dct_ord_num.fictitious_reidentification_rate"] < 0.15


def test_check_detects_a_leaky_numbering_of_the_extract(extract: Path) -> None:
    """The same check on the extract's stays and claims, renumbered in person order, fails."""
    con = duckdb.connect()
    stays = con.execute(
        f"""SELECT person_id, readmitted_30d, eta_num, entry - DATE '2000-01-01' AS entry
            FROM read_parquet('{extract / "truth" / "stays.parquet"}')"""
    ).fetchnumpy()
    person, label = stays["person_id"], np.asarray(stays["readmitted_30d"], bool)
    leaky = np.lexsort((stays["entry"], person))  # main's global RSA_NUM sequence
    key = np.empty(len(leaky), np.int64)
    key[leaky] = np.arange(len(leaky))
    one_group = np.zeros(len(key), np.int64)
    assert adjacency_auc(label, person, one_group, key, reference=stays["entry"]) > 0.7
    assert pair_auc(person, stays["eta_num"], key, reference=stays["entry"]) > 0.7
    claims = con.execute(
        f"""SELECT DISTINCT p.DCT_ORD_NUM, p.FLX_DIS_DTD, p.ORG_CLE_NUM, i.person_id,
                   i.role = 'fictitious' AS fict
            FROM read_csv('{extract / "raw"}/ER_PRS_F_*.csv', delim=';', header=true,
                          all_varchar=true) p
            JOIN read_parquet('{extract / "truth" / "identities.parquet"}') i
              ON i.ben_nir_psa = p.BEN_NIR_PSA AND i.ben_rng_gem = p.BEN_RNG_GEM::INT"""
    ).fetchnumpy()
    batch = (np.asarray(claims["ORG_CLE_NUM"]), np.asarray(claims["FLX_DIS_DTD"]))
    fict = np.asarray(claims["fict"], bool)
    assert fict.sum() > 100
    by_person = np.asarray(claims["person_id"])
    assert reidentification_rate(fict, by_person, batch, by_person) > 0.5
    assert pair_auc(by_person, batch, by_person, anchors=fict) > 0.8


# -- the numbering ------------------------------------------------------------------------------


def test_permutation_is_a_bijection_for_every_key() -> None:
    for domain in (1000, PMSI_SLOTS):
        key = np.full(domain, 12345, np.uint64)
        out = permute(np.arange(domain), domain, key)
        assert np.array_equal(np.sort(out), np.arange(domain))
        assert not np.array_equal(out, np.arange(domain))
    with pytest.raises(ValueError, match="outside"):
        permute(np.array([DCT_DOMAIN]), DCT_DOMAIN, np.zeros(1, np.uint64))


def test_numbers_carry_over_chunks_without_repeats() -> None:
    state = RecordNumbering(seed=11)
    rng = np.random.default_rng(0)
    finess = np.array(["750712184", "010000024", "2A0000017"], dtype=object)
    day0 = PMSI_EPOCH + 7000
    nums, eta, days = [], [], []
    for _ in range(4):  # four chunks
        e = finess[rng.integers(0, 3, 500)]
        d = day0 + rng.integers(0, 20, 500)
        nums.append(state.pmsi("mco", e, d))
        eta.append(e)
        days.append(d)
    num, e, d = np.concatenate(nums), np.concatenate(eta), np.concatenate(days)
    assert len(set(zip(e.tolist(), num.tolist(), strict=True))) == len(num)
    assert np.array_equal(num // PMSI_SLOTS, d - PMSI_EPOCH)  # admission-day order
    # another product numbers independently; DCT numbers are unique per organism and flow
    assert state.pmsi("ace", e[:1], d[:1])[0] // PMSI_SLOTS == d[0] - PMSI_EPOCH
    org = np.array(["011750000", "011690000"], dtype=object)[rng.integers(0, 2, 3000)]
    flow = day0 + 30 * rng.integers(0, 3, 3000)
    dct = np.concatenate([state.dct(org[:1500], flow[:1500]), state.dct(org[1500:], flow[1500:])])
    assert len(set(zip(org.tolist(), flow.tolist(), dct.tolist(), strict=True))) == 3000
    assert dct.min() >= 1 and dct.max() <= DCT_DOMAIN


def test_order_rows_sorts_dcir_and_pmsi_batches() -> None:
    flow = np.array([3, 1, 1, 2])
    org = np.array([0, 1, 0, 0])
    dct = np.array([1, 2, 9, 1])
    assert dcir_line_order(flow, org, dct, np.ones(4)).tolist() == [2, 1, 3, 0]
    pmsi = pa.table({"ETA_NUM": ["2", "1", "1"], "RSA_NUM": ["5", "7", "6"], "X": [0, 1, 2]})
    assert order_rows("T_MCOaaD", pmsi).column("X").to_pylist() == [2, 1, 0]
    ben = pa.table({"BEN_NIR_PSA": ["B", "A"], "BEN_RNG_GEM": [1, 1], "X": [0, 1]})
    assert order_rows("IR_BEN_R", ben).column("X").to_pylist() == [1, 0]
    other = pa.table({"X": [2, 1]})
    assert order_rows("IR_PHA_R", other).column("X").to_pylist() == [2, 1]


def test_rsa_num_follows_the_admission_day_per_establishment(
    db: duckdb.DuckDBPyConnection,
) -> None:
    bad = _one(
        db,
        f"""SELECT count(*) FROM T_MCOaaC
            WHERE RSA_NUM::BIGINT // {PMSI_SLOTS}
               <> strptime(left(EXE_SOI_DTD, 9), '%d%b%Y')::DATE - DATE '2000-01-01'""",
    )
    assert bad == 0
    assert _one(db, "SELECT count(*) - count(DISTINCT (ETA_NUM, RSA_NUM)) FROM T_MCOaaB") == 0


def test_dct_ord_num_is_a_decompte_number_of_its_organism_and_flow(
    db: duckdb.DuckDBPyConnection,
) -> None:
    rows = _rows(
        db,
        """SELECT count(*) FILTER (WHERE n_keys > 1), count(DISTINCT dct), count(*)
           FROM (SELECT ORG_CLE_NUM, FLX_DIS_DTD, DCT_ORD_NUM AS dct,
                        count(DISTINCT i.person_id) AS n_keys
                 FROM ER_PRS_F p JOIN truth_identities i
                   ON i.ben_nir_psa = p.BEN_NIR_PSA AND i.ben_rng_gem = p.BEN_RNG_GEM::INT
                 GROUP BY ALL)""",
    )
    shared, distinct_numbers, decomptes = rows[0]
    assert shared == 0  # one décompte = one person (its lines may carry two of its keys)
    assert distinct_numbers > 0.99 * decomptes  # random in a 10⁹ range: few repeats by chance


def test_truth_stays_map_to_raw_records(db: duckdb.DuckDBPyConnection) -> None:
    n, matched = _rows(
        db,
        """SELECT count(*), count(b.RSA_NUM) FROM truth_stays s
           LEFT JOIN T_MCOaaB b ON b.ETA_NUM = s.eta_num AND b.RSA_NUM = s.rsa_num
            AND b.SOR_ANN::INT = year(s.exit)""",
    )[0]
    assert n > 1000 and matched == n


@pytest.mark.parametrize(
    ("pattern", "keys"),
    [
        ("ER_PRS_F_*", ("FLX_DIS_DTD", "ORG_CLE_NUM", "DCT_ORD_NUM", "PRS_ORD_NUM")),
        ("T_MCO??B", ("ETA_NUM", "RSA_NUM")),
        ("T_MCO??FASTC", ("ETA_NUM", "SEQ_NUM")),
        ("T_SSR??B", ("ETA_NUM", "RHA_NUM", "RHS_NUM")),
        ("IR_BEN_R", ("BEN_NIR_PSA", "BEN_RNG_GEM")),
    ],
)
def test_raw_files_are_sorted_within_each_written_batch(
    extract: Path, pattern: str, keys: tuple[str, ...]
) -> None:
    """A file is at most one sorted run per chunk (chunks are written one after the other)."""
    config = json.loads((extract / "manifest.json").read_text("utf-8"))["config"]
    n_chunks = -(-config["patients"] // config["chunk_size"])
    files = [f for f in sorted((extract / "raw").glob("*.csv")) if fnmatch(f.stem, pattern)]
    assert files
    for f in files:
        t = pacsv.read_csv(
            f,
            parse_options=pacsv.ParseOptions(delimiter=";"),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(keys), column_types=dict.fromkeys(keys, pa.string())
            ),
        )
        cols = [np.asarray(t.column(k).to_pylist(), dtype=object).astype(str) for k in keys]
        if keys[0] == "FLX_DIS_DTD":  # dd/mm/yyyy → yyyymmdd
            cols[0] = np.char.add(
                np.char.add([c[6:] for c in cols[0]], [c[3:5] for c in cols[0]]),
                [c[:2] for c in cols[0]],
            )
        order = np.lexsort(tuple(reversed(cols)))
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        tie = np.ones(len(order), bool)
        for c in cols:
            tie &= np.r_[c[1:] == c[:-1], False]
        descents = int(((rank[1:] < rank[:-1]) & ~tie[:-1]).sum())
        assert descents <= n_chunks - 1, (f.name, descents)
