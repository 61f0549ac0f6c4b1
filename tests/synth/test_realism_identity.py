"""Issue 10 item 8 and the open cohort: identity difficulties at their documented rates, with
exact truth counts, and births / arrivals entering the SNDS during the study."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sndslab.synth._config import ArtefactRates, TruthSettings
from sndslab.synth._ids import NO_DAY
from sndslab.synth._population import (
    BIRTH,
    PMSI_NIR_UNLINKED,
    PMSI_NIR_WRONG_KEY,
    Identities,
    Persons,
    pmsi_nir,
    settle_entrants,
)

RATES = ArtefactRates()
COHORT = TruthSettings()
YEARS = (2019, 2020)


def _counts(extract: Path) -> dict[str, int]:
    return json.loads((extract / "truth" / "manifest.json").read_text())["counts"]


def _one(db: duckdb.DuckDBPyConnection, sql: str) -> tuple:  # type: ignore[type-arg]
    row = db.execute(sql).fetchone()
    assert row is not None
    return row


# -- open cohort ---------------------------------------------------------------------------------


def test_births_per_year_near_insee_rate(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    counts = _counts(extract)
    rows = db.execute(
        """SELECT year(entry_date), count(*) FROM truth_persons WHERE entry_reason = 'birth'
        GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    assert [r[0] for r in rows] == list(YEARS)
    initial = _one(db, "SELECT count(*) FROM truth_persons WHERE entry_reason = 'initial'")[0]
    for year, n in rows:
        assert counts[f"cohort.births.{year}"] == n
        per_1000 = 1000 * n / initial
        # 11 per 1,000 (INSEE); ~110 births a year at 10,000: ±3 per 1,000 is ~3 sd
        assert 8.0 <= per_1000 <= 14.0, (year, per_1000)
    assert counts["cohort.births"] == sum(n for _, n in rows)


def test_newborns_have_a_plausible_living_mother(db: duckdb.DuckDBPyConnection) -> None:
    bad = _one(
        db,
        """SELECT count(*), count(*) FILTER (WHERE m.person_id IS NULL OR m.sex <> 2
               OR date_diff('year', m.birth_date, c.birth_date) NOT BETWEEN 14 AND 50
               OR m.death_date < c.birth_date OR c.birth_date <> c.entry_date
               OR c.residence_dep <> m.residence_dep)
        FROM truth_persons c LEFT JOIN truth_persons m ON m.person_id = c.mother_id
        WHERE c.entry_reason = 'birth'""",
    )
    assert bad[0] > 100 and bad[1] == 0, bad
    assert (
        _one(
            db,
            "SELECT count(*) FROM truth_persons WHERE mother_id IS NOT NULL AND "
            "entry_reason <> 'birth'",
        )[0]
        == 0
    )


def test_arrivals_enter_during_the_study(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    n, lo, hi, adults = _one(
        db,
        """SELECT count(*), min(entry_date), max(entry_date),
                  count(*) FILTER (WHERE date_diff('year', birth_date, entry_date) >= 18)
        FROM truth_persons WHERE entry_reason = 'arrival'""",
    )
    assert n == _counts(extract)["cohort.arrivals"]
    per_1000 = 1000 * n / 10_000 / len(YEARS)
    assert 2.0 <= per_1000 <= 6.5, per_1000  # 4 per 1,000 per year
    assert str(lo) > "2019-01-01" and str(hi) <= "2020-12-31"
    assert adults / n > 0.6  # mostly adults
    # initial persons have no entry date; nobody enters after dying
    assert (
        _one(
            db,
            """SELECT count(*) FILTER (WHERE entry_reason = 'initial' AND entry_date IS NOT NULL)
                + count(*) FILTER (WHERE death_date < entry_date) FROM truth_persons""",
        )[0]
        == 0
    )


def test_no_care_before_entry(db: duckdb.DuckDBPyConnection) -> None:
    """No DCIR line, MCO stay or condition onset of an entrant before its entry day."""
    early_lines = _one(
        db,
        """SELECT count(*), count(*) FILTER (WHERE TRY_CAST(p.EXE_SOI_DTD AS DATE) < t.entry_date)
        FROM ER_PRS_F p JOIN truth_identities i
          ON p.BEN_NIR_PSA = i.ben_nir_psa AND CAST(p.BEN_RNG_GEM AS BIGINT) = i.ben_rng_gem
        JOIN truth_persons t ON t.person_id = i.person_id
        WHERE t.entry_reason <> 'initial'""",
    )
    assert early_lines[0] > 500 and early_lines[1] == 0, early_lines
    early_stays = _one(
        db,
        """SELECT count(*), count(*) FILTER (WHERE s.entry < t.entry_date)
        FROM truth_stays s JOIN truth_persons t USING (person_id)
        WHERE t.entry_reason <> 'initial'""",
    )
    assert early_stays[0] > 20 and early_stays[1] == 0, early_stays
    onsets = _one(
        db,
        """SELECT count(*) FILTER (WHERE c.onset_date < t.birth_date)
                + count(*) FILTER (WHERE t.entry_reason = 'birth' AND c.onset_date < t.entry_date)
        FROM truth_conditions c JOIN truth_persons t USING (person_id)""",
    )
    assert onsets[0] == 0


def test_settle_entrants_moves_times_after_entry() -> None:
    """Unit check: an entrant's drawn times count from its entry; a newborn has no condition
    present at birth; a mother dying before the delivery dies on the delivery day."""
    start, end = 1000, 1730
    n = 3
    persons = Persons(
        pid=np.arange(n, dtype=np.int64),
        sex=np.array([2, 1, 1], np.int8),
        birth=np.array([-9000, 1500, -20000], np.int32),
        dep=np.zeros(n, np.int16),
        community=np.zeros(n, np.int32),
        gp=np.zeros(n, np.int32),
        pharmacy=np.zeros(n, np.int32),
        lab=np.zeros(n, np.int32),
        frailty=np.ones(n),
        cmu=np.zeros(n, bool),
        death=np.array([1200, 1100, 1300], np.int32),
        nir_ano=np.full(n, b"X", "S17"),
        entry=np.array([-9000, 1500, 1200], np.int32),
        entry_reason=np.array([0, BIRTH, 2], np.int8),
        mother=np.array([-1, 0, -1], np.int64),
    )

    class Cond:
        onset = np.array([[500], [900], [1100]], np.int32)
        prevalent = np.array([[True], [True], [False]])
        subtype = np.full(n, -1, np.int16)

    cause = np.array([0, 0, 0], np.int16)
    settle_entrants(persons, Cond, cause, start, end)
    assert list(persons.death) == [1500, 1600, 1500]  # mother moved to the delivery day
    assert Cond.onset[1, 0] == NO_DAY and not Cond.prevalent[1, 0]  # newborn: none at birth
    assert Cond.onset[2, 0] == 1300  # arrival: incident onset counted from entry


# -- identity difficulties ------------------------------------------------------------------------


def test_keys_without_ben_nir_ano(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    counts = _counts(extract)
    missing, regular = _one(
        db,
        """SELECT count(*) FILTER (WHERE COALESCE(BEN_NIR_ANO, '') = ''), count(*)
        FROM IR_BEN_R WHERE BEN_CDI_NIR = '00'""",
    )
    truth = _one(
        db,
        """SELECT count(*) FROM truth_identities
        WHERE in_ir_ben_r AND difficulty LIKE '%nir_ano_missing%'""",
    )[0]
    assert missing == counts["identity.nir_ano_missing_keys"] == truth
    assert 0.5 * RATES.nir_ano_missing_rate <= missing / regular <= 1.6 * RATES.nir_ano_missing_rate
    # BEN_IDT_ANO falls back to PSA || rank on those keys
    assert (
        _one(
            db,
            """SELECT count(*) FROM IR_BEN_R WHERE BEN_CDI_NIR = '00'
        AND COALESCE(BEN_NIR_ANO, '') = '' AND BEN_IDT_ANO <> BEN_NIR_PSA || BEN_RNG_GEM""",
        )[0]
        == 0
    )


def test_birth_year_or_sex_disagree_between_keys(
    db: duckdb.DuckDBPyConnection, extract: Path
) -> None:
    counts = _counts(extract)
    year_off, sex_off = _one(
        db,
        """SELECT count(*) FILTER (WHERE CAST(b.BEN_NAI_ANN AS INT) <> year(t.birth_date)),
                  count(*) FILTER (WHERE CAST(b.BEN_SEX_COD AS INT) <> t.sex)
        FROM IR_BEN_R b JOIN truth_identities i
          ON b.BEN_NIR_PSA = i.ben_nir_psa AND CAST(b.BEN_RNG_GEM AS BIGINT) = i.ben_rng_gem
        JOIN truth_persons t ON t.person_id = i.person_id
        WHERE i.role <> 'fictitious'""",
    )
    assert year_off == counts["identity.birth_year_disagreement_keys"] > 0
    assert sex_off == counts["identity.sex_disagreement_keys"] > 0
    # each such person has another key that records the truth (a disagreement between keys)
    persons = _one(
        db,
        """SELECT count(*) FROM (
          SELECT i.person_id FROM IR_BEN_R b JOIN truth_identities i
            ON b.BEN_NIR_PSA = i.ben_nir_psa AND CAST(b.BEN_RNG_GEM AS BIGINT) = i.ben_rng_gem
          WHERE i.role <> 'fictitious' GROUP BY 1
          HAVING count(DISTINCT b.BEN_NAI_ANN) > 1 OR count(DISTINCT b.BEN_SEX_COD) > 1)""",
    )[0]
    multi = _one(
        db,
        """SELECT count(*) FROM truth_identities
        WHERE role IN ('previous', 'second_parent') AND in_ir_ben_r""",
    )[0]
    assert persons == year_off + sex_off
    rate = RATES.birth_sex_disagreement_rate
    assert 0.4 * rate <= persons / multi <= 1.8 * rate, (persons, multi)


def test_psa_reused_across_adults(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    counts = _counts(extract)
    reused = db.execute(
        """SELECT i.ben_nir_psa, i.ben_rng_gem FROM truth_identities i
        WHERE difficulty LIKE '%psa_reused%'"""
    ).fetchall()
    assert len(reused) == counts["identity.psa_reused_keys"]
    adults = _one(
        db,
        """SELECT count(*) FROM truth_persons
        WHERE date_diff('year', birth_date, DATE '2019-01-01') >= 18""",
    )[0]
    rate = RATES.psa_reused_rate
    assert 0.4 * rate <= len(reused) / adults <= 1.8 * rate, len(reused)
    # in IR_BEN_R: one PSA, two ranks, two adults with two different BEN_NIR_ANO
    shared = _one(
        db,
        """WITH r AS (SELECT ben_nir_psa FROM truth_identities WHERE difficulty LIKE '%psa_reused%')
        SELECT count(*), count(*) FILTER (WHERE n_nir = 2 AND n_rank = 2 AND n_person = 2)
        FROM (SELECT b.BEN_NIR_PSA, count(DISTINCT b.BEN_NIR_ANO) AS n_nir,
                     count(DISTINCT b.BEN_RNG_GEM) AS n_rank,
                     count(DISTINCT i.person_id) AS n_person
              FROM IR_BEN_R b JOIN truth_identities i
                ON b.BEN_NIR_PSA = i.ben_nir_psa AND CAST(b.BEN_RNG_GEM AS BIGINT) = i.ben_rng_gem
              WHERE b.BEN_NIR_PSA IN (SELECT ben_nir_psa FROM r)
                AND COALESCE(b.BEN_NIR_ANO, '') <> ''
              GROUP BY 1)""",
    )
    assert shared[0] > 0 and shared[1] >= 0.9 * shared[0], shared


def test_same_sex_twins_share_a_psa(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    counts = _counts(extract)
    pairs = db.execute(
        """SELECT t.ben_nir_psa, count(DISTINCT t.person_id), count(DISTINCT p.sex),
                  count(DISTINCT p.birth_date), count(DISTINCT t.ben_rng_gem)
        FROM truth_identities t JOIN truth_persons p USING (person_id)
        WHERE t.ben_nir_psa IN (SELECT ben_nir_psa FROM truth_identities WHERE role = 'twin')
          AND t.role IN ('main', 'twin')
        GROUP BY 1"""
    ).fetchall()
    assert len(pairs) == counts["identity.twin_keys"] > 0
    assert all(p[1:] == (2, 1, 1, 2) for p in pairs), pairs[:5]
    minors = _one(
        db,
        """SELECT count(*) FROM truth_persons WHERE entry_reason = 'initial'
        AND date_diff('year', birth_date, DATE '2019-01-01') < 18""",
    )[0]
    initial_twins = _one(
        db,
        """SELECT count(*) FROM truth_identities t JOIN truth_persons p USING (person_id)
        WHERE t.role = 'twin' AND p.entry_reason = 'initial'""",
    )[0]
    share = 2 * initial_twins / minors
    assert 0.5 * RATES.twin_share_of_minors <= share <= 1.6 * RATES.twin_share_of_minors, share
    # twins born during the study too (same mother, same day)
    assert counts["cohort.twin_births_same_sex"] >= 0


def test_pmsi_nir_faults_match_truth(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    """Every written PMSI record whose NIR_ANO_17 is no key at all, or only keys of other
    persons, is counted; their shares are the configured rates."""
    counts = _counts(extract)
    total, unlinked, wrong = _one(
        db,
        """WITH own AS (
          SELECT l.*, EXISTS (SELECT 1 FROM truth_identities i
                              WHERE i.ben_nir_psa = l.nir_ano_17) AS known,
                 EXISTS (SELECT 1 FROM truth_identities i WHERE i.ben_nir_psa = l.nir_ano_17
                         AND i.person_id = l.person_id) AS mine
          FROM truth_pmsi_links l)
        SELECT count(*), count(*) FILTER (WHERE NOT known),
               count(*) FILTER (WHERE known AND NOT mine) FROM own""",
    )
    assert unlinked == counts["identity.pmsi_nir_unlinked"]
    assert wrong == counts["identity.pmsi_nir_wrong_key"]
    for n, rate in (
        (unlinked, RATES.pmsi_nir_unlinked_rate),
        (wrong, RATES.pmsi_nir_wrong_key_rate),
    ):
        assert 0.5 * rate <= n / total <= 1.6 * rate, (n, total)
    # the raw C tables carry the same NIR_ANO_17 (the truth describes the written rows)
    assert (
        _one(db, "SELECT count(*) FROM T_MCOaaC")[0]
        == _one(db, "SELECT count(*) FROM truth_pmsi_links WHERE product = 'mco'")[0]
    )


def test_pmsi_wrong_key_of_an_infant_is_the_mothers() -> None:
    """Unit check of :func:`pmsi_nir`: a wrong key for a child in its first year is its
    mother's main key; an unlinked code matches no key."""
    n = 4
    persons = Persons(
        pid=np.arange(n, dtype=np.int64),
        sex=np.array([2, 1, 1, 2], np.int8),
        birth=np.array([-9000, 100, -5000, -7000], np.int32),
        dep=np.zeros(n, np.int16),
        community=np.zeros(n, np.int32),
        gp=np.zeros(n, np.int32),
        pharmacy=np.zeros(n, np.int32),
        lab=np.zeros(n, np.int32),
        frailty=np.ones(n),
        cmu=np.zeros(n, bool),
        death=np.full(n, 10**6, np.int32),
        nir_ano=np.full(n, b"X", "S17"),
        mother=np.array([-1, 0, -1, -1], np.int64),
    )
    psa = np.array([f"K{i:016d}".encode() for i in range(n)], "S17")
    ident = Identities(
        pid=np.arange(n, dtype=np.int64),
        psa=psa,
        rng_gem=np.ones(n, np.int8),
        valid_from=np.zeros(n, np.int32),
        valid_to=np.full(n, 10**6, np.int32),
        cdi_nir=np.full(n, "00", dtype=object),
        role=np.full(n, "main", dtype=object),
    )
    rates = ArtefactRates(pmsi_nir_unlinked_rate=0.3, pmsi_nir_wrong_key_rate=0.7)
    m = 400
    person = np.ones(m, np.int64)  # the infant, stays in its first year
    nir, fault = pmsi_nir(
        np.random.default_rng(0), ident, persons, person, person, np.full(m, 200), rates
    )
    assert set(nir[fault == PMSI_NIR_WRONG_KEY].tolist()) == {psa[0]}
    assert not np.isin(nir[fault == PMSI_NIR_UNLINKED], psa).any()
    assert 0.2 < (fault == PMSI_NIR_UNLINKED).mean() < 0.4


@pytest.mark.parametrize("name", ["births_per_1000", "arrivals_per_1000"])
def test_cohort_rates_are_documented(name: str) -> None:
    field = TruthSettings.model_fields[name]
    assert field.description and "INSEE" in field.description
    assert getattr(COHORT, name) > 0
