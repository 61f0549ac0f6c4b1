"""A fair falls truth (issue 10, item 5): recoverable effects in a world that is not too clean.

Model-level tests draw from the fall intensity directly (large samples, tight bounds); data-level
tests read the shared 10,000-person extract as an analyst would (raw tables + truth).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sndslab.synth._falls import FallModel, falls_realism
from sndslab.synth._ids import NO_DAY, day_of
from sndslab.synth._reference import Reference

DCIR_DATE = "try_strptime({}, '%d/%m/%Y')::DATE"
SAS_DATE = "try_strptime({}, '%d%b%Y:%H:%M:%S')::DATE"
YEAR = 365.25


def one(db: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


def manifest(extract: Path) -> dict:
    return json.loads((extract / "truth" / "manifest.json").read_text())


# ---------------------------------------------------------------------------------- model level
@pytest.fixture(scope="module")
def ref() -> Reference:
    return Reference()


def _model(ref: Reference, n: int, age: float, **over: np.ndarray) -> FallModel:
    start = day_of(2019, 1, 1)
    kw: dict = {
        "ref": ref,
        "params": falls_realism(),
        "study_start": start,
        "birth": np.full(n, start - int(age * YEAR), np.int64),
        "female": np.zeros(n, bool),
        "frail": np.ones(n),
        "decline": np.full(n, NO_DAY, np.int64),
        "onset": np.zeros((n, 0), np.int64),
        "rr": np.zeros(0),
        "start65": np.full(n, start, np.int64),
        "end": np.full(n, day_of(2020, 12, 31), np.int64),
    }
    kw.update(over)
    return FallModel(**kw)


def _draw(model: FallModel, seed: int = 1) -> np.ndarray:
    n = len(model.birth)
    _, d = model.thinned(np.random.default_rng(seed), np.arange(n), model.start65, model.end)
    return d


def test_baseline_rises_with_age_within_follow_up(ref: Reference) -> None:
    """The same persons fall more in their second year than in their first (age at each day,
    frailty drift), and the 65th birthday opens the risk."""
    model = _model(ref, 200_000, 78.0)
    day = _draw(model)
    y1 = int((day < day_of(2020, 1, 1)).sum())
    y2 = int((day >= day_of(2020, 1, 1)).sum())
    assert y1 > 3000
    assert y2 / y1 > 1.08  # ageing 78→79 and the drift: ≈ +13 %
    # the expected count is the integral of the intensity (thinning is exact)
    days = np.arange(day_of(2019, 1, 1), day_of(2020, 12, 31) + 1)
    lam = model.intensity(np.zeros(len(days), np.int64), days)
    expected = lam.sum() / YEAR * len(model.birth)
    assert abs(len(day) - expected) < 4 * np.sqrt(expected)
    # persons turning 65 mid-study fall only from their birthday on
    young = _model(ref, 50_000, 64.5)
    d = _draw(young)
    assert len(d) > 0 and d.min() >= day_of(2019, 1, 1) + int(0.5 * YEAR) - 1


def test_winter_excess(ref: Reference) -> None:
    day = _draw(_model(ref, 200_000, 80.0))
    month = (day.astype("datetime64[D]").astype("datetime64[M]").astype(int) % 12) + 1
    winter = np.isin(month, [12, 1, 2]).sum()
    summer = np.isin(month, [6, 7, 8]).sum()
    assert winter / summer > 1.2  # amplitude 0.15: ≈ 1.33


def test_frailty_decline_and_conditions_raise_the_rate(ref: Reference) -> None:
    n = 100_000
    mid = day_of(2020, 1, 1)
    pr = falls_realism()
    rr_parkinson = pr.condition_rr["parkinson"]
    model = _model(
        ref,
        n,
        80.0,
        decline=np.r_[np.full(n // 2, mid), np.full(n - n // 2, NO_DAY)].astype(np.int64),
        onset=np.r_[np.full(n // 2, NO_DAY), np.full(n - n // 2, mid)].astype(np.int64)[:, None],
        rr=np.array([rr_parkinson]),
    )
    p, d = model.thinned(np.random.default_rng(2), np.arange(n), model.start65, model.end)
    declined = p < n // 2
    before = (d < mid) & declined
    after = (d >= mid) & declined
    assert after.sum() / before.sum() > 0.8 * pr.decline_rr
    before = (d < mid) & ~declined
    after = (d >= mid) & ~declined
    assert after.sum() / before.sum() > 0.8 * rr_parkinson


# ---------------------------------------------------------------------------------- data level
def _key_person(db: duckdb.DuckDBPyConnection) -> None:
    db.execute("""
        CREATE OR REPLACE TEMP VIEW key_person AS
        SELECT i.ben_nir_psa AS psa, i.ben_rng_gem::VARCHAR AS rng, p.person_id,
               p.birth_date, p.death_date
        FROM truth_identities i JOIN truth_persons p USING (person_id)
    """)
    db.execute(f"""
        CREATE OR REPLACE TEMP VIEW dispensed AS
        SELECT DISTINCT k.person_id, {DCIR_DATE.format("p.EXE_SOI_DTD")} AS day,
               r.PHA_ATC_C07 AS atc, p.DCT_ORD_NUM, p.PRS_ORD_NUM, p.FLX_DIS_DTD
        FROM ER_PHA_F h JOIN ER_PRS_F p USING (DCT_ORD_NUM, FLX_DIS_DTD, FLX_EMT_NUM,
             FLX_EMT_ORD, FLX_EMT_TYP, FLX_TRT_DTD, ORG_CLE_NUM, PRS_ORD_NUM, REM_TYP_AFF)
        JOIN IR_PHA_R r ON r.PHA_CIP_C13 = h.PHA_PRS_C13
        JOIN key_person k ON p.BEN_NIR_PSA = k.psa AND p.BEN_RNG_GEM = k.rng
        WHERE p.PRS_ACT_QTE::DOUBLE > 0
    """)


def test_every_effect_drug_is_dispensed_to_the_elderly(
    db: duckdb.DuckDBPyConnection, extract: Path
) -> None:
    """≥ 1,000 exposed persons 65+ per 1,000,000 persons (≥ 10 here) for every effect drug,
    counted on the raw dispensings; the manifest's power figures agree with the truth."""
    _key_person(db)
    section = manifest(extract)["drug_effects"]
    counts = manifest(extract)["counts"]
    patients = manifest(extract)["config"]["patients"]
    for e in section["effects"]:
        atc = e["atc"]
        exposed = one(
            db,
            f"""SELECT count(DISTINCT d.person_id) FROM dispensed d
                JOIN truth_persons p USING (person_id)
                WHERE d.atc = '{atc}' AND date_diff('year', p.birth_date, d.day) >= 65""",
        )
        assert exposed >= 10, atc  # type: ignore[operator]
        assert e["recoverable"], atc
        fig = e["per_million_persons"]
        n = counts[f"drug_effects.{atc}.exposed_persons_65plus"]
        assert fig["exposed_persons_65plus"] == pytest.approx(n * 1e6 / patients, abs=0.1)
        assert fig["expected_falls_in_windows"] > fig["expected_baseline_falls_in_windows"] > 0
    # the effects of the audit's never-exposed drugs were re-picked or their use raised
    assert {"N05AH04", "R06AD02"}.isdisjoint({e["atc"] for e in section["effects"]})


def test_winter_excess_and_falls_of_the_frail_in_the_extract(db: duckdb.DuckDBPyConnection) -> None:
    months = dict(
        db.execute(
            "SELECT month(date), count(*) FROM truth_falls WHERE caused_by_atc IS NULL GROUP BY 1"
        ).fetchall()
    )
    winter = sum(months.get(m, 0) for m in (12, 1, 2))
    summer = sum(months.get(m, 0) for m in (6, 7, 8))
    assert winter > summer > 0
    # persons after a frailty decline fall several times more often (per person-year)
    rate = db.execute("""
        WITH d AS (SELECT person_id, min(date) AS since FROM truth_frailty_declines GROUP BY 1),
        f AS (SELECT f.person_id, f.date >= d.since AS after FROM truth_falls f
              JOIN d USING (person_id))
        SELECT count(*) FILTER (WHERE after), count(*) FILTER (WHERE NOT after) FROM f
    """).fetchone()
    assert rate is not None and rate[0] > rate[1]


def test_non_fall_fractures_and_uncoded_falls(db: duckdb.DuckDBPyConnection) -> None:
    """Fracture stays are not all falls, and not every fall stay carries W00-W19."""
    db.execute("""
        CREATE OR REPLACE TEMP VIEW fracture_stays AS
        SELECT s.kind, b.ETA_NUM, b.RSA_NUM, b.DGN_PAL,
               EXISTS (SELECT 1 FROM T_MCOaaD d WHERE d.ETA_NUM = b.ETA_NUM
                       AND d.RSA_NUM = b.RSA_NUM AND regexp_matches(d.ASS_DGN, '^W(0|1)[0-9]'))
                   AS w_code,
               EXISTS (SELECT 1 FROM T_MCOaaD d WHERE d.ETA_NUM = b.ETA_NUM
                       AND d.RSA_NUM = b.RSA_NUM AND regexp_matches(d.ASS_DGN, '^(V|W[2-9]|X)'))
                   AS other_cause
        FROM T_MCOaaB b JOIN truth_stays s ON s.rsa_num = b.RSA_NUM AND s.finess = b.ETA_NUM
        WHERE s.kind IN ('fall', 'injury', 'pathological_fracture')
    """)
    by_kind = {
        k: (n, w, o)
        for k, n, w, o in db.execute("""
            SELECT kind, count(*), count(*) FILTER (WHERE w_code),
                   count(*) FILTER (WHERE other_cause)
            FROM fracture_stays GROUP BY 1""").fetchall()
    }
    n, w, _ = by_kind["fall"]
    missing = falls_realism().fall_missing_share
    assert abs((n - w) / n - missing) < 4 * np.sqrt(missing * (1 - missing) / n)
    n, w, o = by_kind["injury"]
    assert n > 10 and w == 0 and 0 < o < n
    n, w, o = by_kind["pathological_fracture"]
    assert n > 0 and w == 0 and o == 0
    # every non-fall fracture stay has a fracture DP (S..): a fracture-DP outcome includes them
    assert one(db, "SELECT count(*) FROM fracture_stays WHERE DGN_PAL NOT LIKE 'S%'") == 0


def test_drugs_started_after_falls(db: duckdb.DuckDBPyConnection) -> None:
    """Event-dependent exposure: post-fall drugs are dispensed far more in the 30 days after a
    fall than in the 30 days before it (what a LEOPARD-type filter detects)."""
    _key_person(db)
    post = sorted({r.atc for r in falls_realism().post_fall})
    listing = ", ".join(f"'{a}'" for a in post)
    before, after = db.execute(f"""
        SELECT count(*) FILTER (WHERE d.day < f.date), count(*) FILTER (WHERE d.day > f.date)
        FROM truth_falls f JOIN dispensed d USING (person_id)
        WHERE d.atc IN ({listing}) AND abs(d.day - f.date) <= 30
    """).fetchone()  # type: ignore[misc]
    assert after > 3 * max(before, 1)


def test_co_prescribed_null_drugs(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    _key_person(db)
    section = manifest(extract)["drug_effects"]
    effects = {e["atc"] for e in section["effects"]}
    biases = {b["type"]: b for b in section["biases"]}
    for kind in (
        "event_dependent_exposure",
        "time_varying_confounding",
        "co_prescription",
        "condition_onset_confounding",
    ):
        assert biases[kind]["null_drugs"] and effects.isdisjoint(biases[kind]["null_drugs"])
    for pair in biases["co_prescription"]["pairs"]:
        share = one(
            db,
            f"""SELECT avg((EXISTS (SELECT 1 FROM dispensed n WHERE n.person_id = e.person_id
                    AND n.day = e.day AND n.atc = '{pair["null_atc"]}'))::INT)
                FROM dispensed e WHERE e.atc = '{pair["effect_atc"]}'""",
        )
        assert share is not None and share >= 0.6 * pair["prob_same_day"], pair  # type: ignore[operator]


def test_excess_mortality_after_hip_fracture(db: duckdb.DuckDBPyConnection) -> None:
    """1-year mortality after a hip fracture (persons 65+) is several times the mortality of
    persons 65+, and the moved deaths are coherent across IR_BEN_R, CépiDc and the truth."""
    hip = db.execute("""
        WITH h AS (SELECT s.person_id, min(s.entry) AS day FROM truth_stays s
                   JOIN truth_persons p USING (person_id)
                   WHERE s.kind IN ('fall', 'pathological_fracture') AND s.dp LIKE 'S72%'
                     AND date_diff('year', p.birth_date, s.entry) >= 65 GROUP BY 1)
        SELECT count(*), count(*) FILTER (WHERE p.death_date <= h.day + 365),
               count(*) FILTER (WHERE h.day + 365 <= DATE '2020-12-31')
        FROM h JOIN truth_persons p USING (person_id)
    """).fetchone()
    assert hip is not None and hip[0] > 20
    elderly = db.execute("""
        SELECT count(*), count(*) FILTER (WHERE death_date <= DATE '2019-12-31')
        FROM truth_persons WHERE date_diff('year', birth_date, DATE '2019-01-01') >= 75
    """).fetchone()
    assert elderly is not None
    assert hip[1] / hip[0] > 2 * elderly[1] / elderly[0]
    moved = one(db, "SELECT count(*) FROM truth_hip_fracture_deaths")
    assert moved > 0  # type: ignore[operator]
    incoherent = one(
        db,
        f"""SELECT count(*) FROM truth_hip_fracture_deaths h
            JOIN truth_persons p USING (person_id)
            JOIN truth_identities i USING (person_id)
            JOIN IR_BEN_R b ON b.BEN_NIR_PSA = i.ben_nir_psa
             AND b.BEN_RNG_GEM = i.ben_rng_gem::VARCHAR
            WHERE p.death_date <> h.death_date
               OR {DCIR_DATE.format("b.BEN_DCD_DTE")} IS DISTINCT FROM h.death_date""",
    )
    assert incoherent == 0


def test_crude_sccs_recovers_the_injected_effects(db: duckdb.DuckDBPyConnection) -> None:
    """A crude self-controlled case series on the truth: cases are persons 65+ with a fall,
    exposure is any effect drug's risk window; the conditional Poisson estimate of the pooled
    IRR lies near the injected ones (1.3-3.0)."""
    rows = db.execute("""
        WITH obs AS (
            SELECT person_id, greatest(DATE '2019-01-01', birth_date + INTERVAL 65 YEAR)::DATE
                       AS t0,
                   least(coalesce(death_date, DATE '2020-12-31'), DATE '2020-12-31') AS t1
            FROM truth_persons),
        cases AS (SELECT DISTINCT person_id FROM truth_falls),
        win AS (SELECT w.person_id, greatest(w.start, o.t0) AS s, least(w."end", o.t1) AS e
                FROM truth_exposure_windows w JOIN obs o USING (person_id)
                JOIN cases USING (person_id) WHERE NOT w.empty),
        days AS (SELECT person_id, count(DISTINCT d) AS exposed_days FROM (
                 SELECT person_id, unnest(generate_series(s, e, INTERVAL 1 DAY)) AS d
                 FROM win WHERE e >= s) GROUP BY 1),
        ev AS (SELECT f.person_id, count(*) AS n,
                      count(*) FILTER (WHERE EXISTS (SELECT 1 FROM win w WHERE
                          w.person_id = f.person_id AND f.date BETWEEN w.s AND w.e)) AS n_exp
               FROM truth_falls f JOIN obs o USING (person_id)
               WHERE f.date BETWEEN o.t0 AND o.t1 GROUP BY 1)
        SELECT ev.n, ev.n_exp, coalesce(days.exposed_days, 0), o.t1 - o.t0 + 1
        FROM ev JOIN obs o USING (person_id) LEFT JOIN days USING (person_id)
    """).fetchall()
    a = np.array(rows, dtype=float)
    n, n_exp, t1, total = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    t0 = total - t1
    beta = 0.0
    for _ in range(50):  # Newton on the conditional Poisson (SCCS) likelihood
        w = np.exp(beta) * t1 / (t0 + np.exp(beta) * t1)
        score = n_exp.sum() - (n * w).sum()
        info = (n * w * (1 - w)).sum()
        beta += score / info
    assert n_exp.sum() > 50
    assert 1.3 < np.exp(beta) < 3.0


def test_unrecoverable_effect_is_flagged(ref: Reference, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input: an effect drug never dispensed to persons 65+ (a contraceptive pill, elderly
    factor 0) gives a warning naming it and ``recoverable: false`` in the manifest."""
    from sndslab.synth._falls_care import drug_effects_section

    pill = {"atc": "G03AA07", "irr": 2.0, "lag_start": 0, "lag_end": 30, "note": "test"}
    monkeypatch.setattr(ref, "effect_specs", [*ref.effect_specs, pill])
    with pytest.warns(UserWarning, match="G03AA07"):
        section = drug_effects_section(ref, 10_000, {}, warn=True)
    flags = {e["atc"]: e["recoverable"] for e in section["effects"]}
    assert flags["G03AA07"] is False
    assert all(v for k, v in flags.items() if k != "G03AA07")
