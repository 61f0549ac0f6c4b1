"""Acute-care (MCO) hospital stays and the 30-day readmission truth.

Stays come from eight sources: a baseline rate by age/sex (general medicine and surgery),
the conditions (after onset), falls of the elderly, deaths in hospital (terminal stays),
deliveries of women 15–49 (CMD 14), the birth stay of every person born during the study
(CMD 15), transfers to another MCO establishment and readmissions. Readmissions follow a known
logistic model of patient and stay features (the injected truth ``READMISSION_COEFFICIENTS``):
after each eligible stay (alive, not a session, not transferred out), a readmission occurs
within 30 days with probability ``expit(intercept + x·β)``.

PMSI structure (ATIH, *Manuel des GHM* and *Guide méthodologique MCO*):

- **sessions** (DP Z49.1 dialysis, Z51.0 radiotherapy, Z51.1/Z51.2 chemotherapy, Z51.3
  transfusion) are one-day records (entry = exit, no night) grouped in CMD 28 with a GHM ending
  in ``Z`` (e.g. 28Z07Z); they are never index stays nor readmissions, and their related
  diagnosis (DR, DGN_REL) is the disease treated (the tumour, N18.5 for dialysis);
- **severity levels** 2, 3, 4 need at least 3, 4, 5 nights: a shorter stay is grouped at level
  1 (``MIN_NIGHTS_PER_LEVEL``); 0-night stays take the ``J`` (ambulatory, surgical roots) or
  ``T`` (very short) suffix; CMD 14/15 (deliveries, newborns) use the letters A–D and the other
  non-segmented roots (27Z, 28Z) ``Z``;
- **0-night stays**: lengths of stay are drawn so that about 43 % of the stays outside sessions
  have no night, the ATIH 2018 figure (8.1 M ambulatory stays vs 10.7 M full hospitalisations
  outside sessions, ATIH *Chiffres clés de l'hospitalisation* 2018);
- **transfers**: ``transfer_rate`` of the stays of ≥ 1 night (``transfer_rate_acute`` for
  stroke and coronary disease) end with SOR_MOD 7 / SOR_DES 1 and are followed the same day by
  a stay in another MCO establishment of the region with ENT_MOD 7 / ENT_PRV 1;
- **emergency admissions** carry ENT_PRV 5 (passage through the emergency department);
- **units**: a stay spans ``n_units`` medical units (RUM), more often when long or urgent.
"""

from __future__ import annotations

import numpy as np

from sndslab.synth._context import Chunk
from sndslab.synth._covid import covid_dead, covid_stays
from sndslab.synth._falls import fracture_das, fracture_stays
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY, repeat_index
from sndslab.synth._world import CH, CHU, CLINIC

YEAR = 365.25

STAY_KINDS = {
    "background": 0,
    "condition": 1,
    "fall": 2,
    "terminal": 3,
    "readmission": 4,
    "covid": 5,
    "injury": 6,  # fracture from road, sport, blows (falls world, ``_falls``)
    "pathological_fracture": 7,  # osteoporotic / metastatic fracture without a fall
    "transfer": 8,
    "delivery": 9,
    "newborn": 10,
}
#: Kinds whose length of stay is drawn by their own source (kept exactly).
EXACT_LOS_KINDS = (STAY_KINDS["terminal"], STAY_KINDS["delivery"], STAY_KINDS["newborn"])
#: ICD-10 prefixes of the main diagnoses of CMD 28 sessions (dialysis, radio/chemotherapy,
#: transfusion): ATIH, *Manuel des GHM*, CMD 28 "Séances".
SESSION_DP_PREFIXES = ("Z491", "Z510", "Z511", "Z512", "Z513")
#: ATIH minimum number of nights for severity levels 2, 3, 4 (otherwise level 1).
MIN_NIGHTS_PER_LEVEL = {2: 3, 3: 4, 4: 5}
#: Age-specific fertility rates (live births per woman per year) by 5-year age band from 15,
#: INSEE *Bilan démographique 2019* (total fertility rate 1.87; rounded).
FERTILITY_15_49 = (0.008, 0.042, 0.105, 0.127, 0.070, 0.017, 0.001)
#: Share of vaginal deliveries under epidural analgesia (ENP 2016: 82 %), coded with an
#: anaesthesia act (activity 4).
EPIDURAL_SHARE = 0.82
#: Share of caesarean deliveries (Enquête nationale périnatale 2016: 20.4 %).
CAESAREAN_SHARE = 0.20
#: Nights of a delivery stay: minimum + Poisson extra (ENP 2016 / ATIH: about 4 nights after a
#: vaginal delivery, 5.5 after a caesarean).
DELIVERY_NIGHTS = {"vaginal": (2, 1.9), "caesarean": (3, 2.5)}
#: Nights of the birth stay of a newborn (with its mother): minimum + Poisson extra.
NEWBORN_NIGHTS = (2, 1.6)
#: Share of planned stays of short expected length (``AMBULATORY_MAX_MEAN_NIGHTS``) taken in
#: charge without a night, on top of the 0-night draws of ``_los``; calibrated so that about
#: 43 % of the stays outside sessions have 0 nights (ATIH 2018, see the module docstring;
#: ambulatory surgery reached 54.5 % of surgical patients in 2018).
AMBULATORY_SHARE = {"surgical": 0.75, "medical": 0.6}
AMBULATORY_MAX_MEAN_NIGHTS = 7.0
#: Share of MCO→MCO transfers among stays of ≥ 1 night (ATIH: SOR_MOD 7 towards MCO ≈ 2–3 %
#: of full hospitalisations; higher for stroke and acute coronary syndromes sent to a CHU).
TRANSFER_RATE = 0.025
TRANSFER_RATE_ACUTE = 0.10
TRANSFER_ACUTE_CONDITIONS = ("stroke", "coronary_disease")
#: Probability that a stay of ≥ 1 night is spread over several units (RUM), per night, capped.
MULTI_UNIT_PER_NIGHT = 0.025
MULTI_UNIT_EMERGENCY = 0.15
MULTI_UNIT_CAP = 0.6

#: Injected 30-day readmission model: feature → coefficient (log-odds).
READMISSION_COEFFICIENTS: dict[str, float] = {
    "age_per_10y_over_65": 0.12,
    "male": 0.10,
    "log1p_length_of_stay": 0.25,
    "n_conditions": 0.18,
    "emergency_admission": 0.35,
    "prior_stays_365d": 0.30,
    "heart_failure": 0.45,
    "copd_asthma": 0.35,
    "cancer": 0.50,
    "dementia": 0.20,
    "free_complementary_cover": 0.20,
}


def _los(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Length of stay in nights: 0 for ambulatory stays (mean ≤ 0.5), else a skewed draw.

    ``floor(Gamma(shape 1.5, mean / 1.5) + 0.5)`` keeps the mean; short expected stays are
    often 0-night (32 % for a 1-night mean, 14 % for 2 nights, 4 % for 5, 2 % for 9).
    """
    mean = np.asarray(mean, np.float64)
    ambulatory = mean <= 0.5
    los = np.floor(rng.gamma(1.5, np.maximum(mean, 0.5) / 1.5) + 0.5).astype(np.int64)
    return np.where(ambulatory, 0, los)


def is_session(dp: np.ndarray) -> np.ndarray:
    """True for the main diagnoses of CMD 28 sessions (``SESSION_DP_PREFIXES``)."""
    d = np.asarray(dp).astype(str)
    out = np.zeros(len(d), bool)
    for prefix in SESSION_DP_PREFIXES:
        out |= np.char.startswith(d, prefix)
    return out


def _choose_establishment(chunk: Chunk, person: np.ndarray, surgical: np.ndarray) -> np.ndarray:
    """Public CH of the département (most), regional CHU, or a private clinic (surgery)."""
    rng = chunk.rng
    ref = chunk.ref
    dep = chunk.persons.dep[person]
    u = rng.random(len(person))
    p_private = np.where(surgical, 0.5, 0.2)
    kind = np.where(u < p_private, CLINIC, np.where(u < p_private + 0.25, CHU, CH))
    return ref.establishment_for(dep, kind)


def draw_stays(chunk: Chunk, fall_rows: Frame) -> tuple[Frame, Frame, Frame]:
    """MCO stays with diagnoses and acts: ``(stays, das, acts)``."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start = chunk.care_start
    end = chunk.alive_end
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    parts: list[Frame] = []

    # -- baseline stays -------------------------------------------------------------------------
    rate = ref.general.stay_rate(mid_age, persons.sex) * np.sqrt(persons.frailty)
    born = np.maximum(start, np.asarray(persons.birth, np.int64))  # persons born in the study
    p, day = chunk.calendar["stay"].poisson_days(rng, rate, born, end)
    dp_idx = ref.draw_general_stay(rng, persons.age_of(p, day), persons.sex[p])
    parts.append(
        Frame(
            person=p,
            entry=day,
            dp=ref.general_stay_dp[dp_idx],
            los_mean=ref.general_stay_los[dp_idx],
            surgical=ref.general_stay_surgical[dp_idx],
            act=ref.general_stay_act[dp_idx],
            kind=np.full(len(p), STAY_KINDS["background"]),
            cond=np.full(len(p), -1),
            emergency=rng.random(len(p)) < 0.35,
        )
    )

    # -- condition stays --------------------------------------------------------------------------
    for j, name in enumerate(chunk.cond.names):
        spec = ref.conditions[name]
        onset = chunk.cond.onset[:, j].astype(np.int64)
        has = onset < NO_DAY
        s = np.maximum(onset, start)
        mco_rate = spec.hosp_rate_per_year * (1.0 - spec.psy_share)  # the rest is RIM-P
        rate = np.where(has, mco_rate * np.sqrt(persons.frailty), 0.0)
        p, day = chunk.calendar["stay"].poisson_days(rng, rate, s, end)
        if len(p) == 0:
            continue
        dp = ref.draw_condition_dp(rng, name, chunk.cond.subtype[p])
        surgical = rng.random(len(p)) < spec.stay_surgical_share
        parts.append(
            Frame(
                person=p,
                entry=day,
                dp=dp,
                los_mean=np.full(len(p), float(spec.stay_los_mean)),
                surgical=surgical,
                act=np.full(len(p), -1),
                kind=np.full(len(p), STAY_KINDS["condition"]),
                cond=np.full(len(p), j),
                emergency=rng.random(len(p)) < 0.5,
            )
        )

    # -- falls treated in hospital ---------------------------------------------------------------
    hosp = fall_rows.filter(fall_rows["channel"] == 2)
    if len(hosp):
        frac = hosp["fracture"]  # drawn by _falls (hip fractures raise mortality there)
        parts.append(
            Frame(
                person=hosp["person"],
                entry=hosp["day"],
                dp=ref.fracture_dp[frac],
                los_mean=np.full(len(hosp), ref.fall.stay_los_mean),
                surgical=ref.fracture_surgical[frac],
                act=ref.fracture_act(rng, frac),
                kind=np.full(len(hosp), STAY_KINDS["fall"]),
                cond=np.full(len(hosp), -1),
                emergency=np.ones(len(hosp), bool),
            )
        )
    parts.append(fracture_stays(chunk))  # fractures not due to a fall (road, sport, pathological)

    # -- deaths in hospital: a terminal stay ending on the death day -----------------------------
    died = np.flatnonzero((persons.death <= chunk.study_end) & ~covid_dead(chunk))
    hfd = chunk.hip_fracture_deaths  # excess deaths after a hip fracture (_falls): their last
    if hfd is not None and len(hfd):  # stay is the fracture's, a terminal stay would precede it
        died = died[~np.isin(died, hfd["person"])]
    in_hosp = died[rng.random(len(died)) < 0.55]
    if len(in_hosp):
        cause = chunk.death_cause[in_hosp]
        dp = ref.terminal_dp(rng, chunk, in_hosp, cause)
        los = np.floor(rng.gamma(1.5, 6.0, len(in_hosp))).astype(np.int64) + 1
        entry = np.maximum(persons.death[in_hosp] - los, chunk.care_start[in_hosp])
        parts.append(
            Frame(
                person=in_hosp,
                entry=entry,
                dp=dp,
                los_mean=(persons.death[in_hosp] - entry).astype(np.float64),
                surgical=np.zeros(len(in_hosp), bool),
                act=np.full(len(in_hosp), -1),
                kind=np.full(len(in_hosp), STAY_KINDS["terminal"]),
                cond=cause.astype(np.int64),
                emergency=rng.random(len(in_hosp)) < 0.6,
            )
        )

    parts.append(covid_stays(chunk, STAY_KINDS))  # COVID-19 stays (DP U071), 2020 on
    parts.append(_deliveries(chunk))
    parts.append(_newborns(chunk))

    stays = Frame.concat(parts)
    # no stay before birth (persons born during the study: their first stay is the birth stay)
    stays = stays.filter(stays["entry"] >= persons.birth[stays["person"]])
    session = is_session(stays["dp"])
    los = _los(rng, stays["los_mean"])
    exact = np.isin(stays["kind"], EXACT_LOS_KINDS)
    los = np.where(exact, stays["los_mean"].astype(np.int64), los)
    los = np.where(session, 0, los)  # a session is one day: entry = exit
    los = np.where(_ambulatory(rng, stays) & ~exact, 0, los)
    n = len(stays)
    stays = stays.with_columns(
        exit=stays["entry"] + los,
        emergency=stays["emergency"] & ~session,  # sessions are planned
        session=session,
        transfer_out=np.zeros(n, bool),
        transfer_from=np.full(n, -1, np.int64),
        stay_key=np.arange(n, dtype=np.int64),
    )
    stays = _separate(stays, chunk)
    stays = _transfers(chunk, stays)
    stays = _readmissions(chunk, stays)
    stays = _separate(stays, chunk)
    stays = _finish(chunk, stays)
    das = _diagnoses(chunk, stays)
    acts = _acts(chunk, stays)
    return stays, das, acts


def pmsi_structure_manifest() -> dict[str, object]:
    """Manifest section: the PMSI structure rules and calibration targets of the MCO stays
    (counts are under ``counts["pmsi.mco.*"]``)."""
    return {
        "sessions": "CMD 28 (DP " + ", ".join(SESSION_DP_PREFIXES) + "): one day, entry = "
        "exit, SEJ_NBJ NULL, NBR_SEA 1, GHM 28Z..Z, DR = the disease treated; never index "
        "stays nor readmissions (truth/stays.parquet readmission_index)",
        "min_nights_per_level": MIN_NIGHTS_PER_LEVEL,
        "zero_night_target": {
            "share_of_stays_outside_sessions": 0.43,
            "source": "ATIH 2018: 8.1 M ambulatory stays vs 10.7 M full hospitalisations",
        },
        "ambulatory_share_of_short_planned_stays": AMBULATORY_SHARE,
        "transfer_rate": {"default": TRANSFER_RATE, "stroke_coronary": TRANSFER_RATE_ACUTE},
        "fertility_15_49_by_5y_band": list(FERTILITY_15_49),
        "caesarean_share": CAESAREAN_SHARE,
        "epidural_share": EPIDURAL_SHARE,
        "newborn_stay": "every person born during the study: DP Z380, GHM 15M05A-D, entry = "
        "birth date",
    }


def _ambulatory(rng: np.random.Generator, stays: Frame) -> np.ndarray:
    """Planned stays taken in charge without a night (ambulatory surgery, day hospital in
    medicine): ``AMBULATORY_SHARE`` of the planned stays whose expected length is short."""
    short = stays["los_mean"] <= AMBULATORY_MAX_MEAN_NIGHTS
    p = np.where(stays["surgical"], AMBULATORY_SHARE["surgical"], AMBULATORY_SHARE["medical"])
    return ~stays["emergency"] & short & (rng.random(len(stays)) < p)


def _stay_frame(
    person: np.ndarray,
    entry: np.ndarray,
    dp: np.ndarray,
    los: np.ndarray,
    surgical: np.ndarray,
    act: np.ndarray,
    kind: str,
) -> Frame:
    """A source of stays with an exact length of stay (``los`` nights), planned admissions."""
    k = len(person)
    return Frame(
        person=np.asarray(person, np.int64),
        entry=np.asarray(entry, np.int64),
        dp=np.asarray(dp, dtype=object),
        los_mean=np.asarray(los, np.float64),
        surgical=np.asarray(surgical, bool),
        act=np.asarray(act, np.int64),
        kind=np.full(k, STAY_KINDS[kind]),
        cond=np.full(k, -1),
        emergency=np.zeros(k, bool),
    )


def _deliveries(chunk: Chunk) -> Frame:
    """Delivery stays (CMD 14) of women aged 15–49, at the INSEE age-specific fertility rates.

    Counts are Poisson per woman over her follow-up at the rate of her age band at mid
    follow-up; a delivery less than 300 days after the previous one is dropped. A share
    ``CAESAREAN_SHARE`` are caesareans (DP O82, act JQGA002/3/4, surgical GHM 14C08), the
    others vaginal (DP O80.0, act JQGD012, GHM 14Z13/14Z14).
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start = chunk.care_start
    end = chunk.alive_end
    length = np.maximum(end - start + 1, 0)
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    band = np.floor((mid_age - 15) / 5).astype(np.int64)
    ok = (persons.sex == 2) & (band >= 0) & (band < len(FERTILITY_15_49))
    rate = np.where(ok, np.asarray(FERTILITY_15_49)[np.clip(band, 0, 6)], 0.0)
    p = repeat_index(rng.poisson(rate * length / YEAR))
    day = start[p] + np.floor(rng.random(len(p)) * length[p]).astype(np.int64)
    order = np.lexsort((day, p))
    p, day = p[order], day[order]
    age = persons.age_of(p, day)
    keep = (age >= 15) & (age <= 49)
    keep &= ~(np.r_[False, p[1:] == p[:-1]] & (np.diff(day, prepend=day[:1]) < 300))
    p, day = p[keep], day[keep]
    k = len(p)
    caesarean = rng.random(k) < CAESAREAN_SHARE
    nights = np.where(
        caesarean,
        DELIVERY_NIGHTS["caesarean"][0] + rng.poisson(DELIVERY_NIGHTS["caesarean"][1], k),
        DELIVERY_NIGHTS["vaginal"][0] + rng.poisson(DELIVERY_NIGHTS["vaginal"][1], k),
    )
    c_acts = np.array([ref.ccam(c) for c in ("JQGA002", "JQGA003", "JQGA004")], np.int64)
    act = np.where(caesarean, c_acts[rng.integers(0, 3, k)], ref.ccam("JQGD012"))
    dp = np.where(caesarean, "O82", "O800").astype(object)
    return _stay_frame(p, day, dp, nights, caesarean, act, "delivery")


def _newborns(chunk: Chunk) -> Frame:
    """The birth stay (DP Z38.0, CMD 15) of every person born during the study."""
    rng = chunk.rng
    persons = chunk.persons
    birth = np.asarray(persons.birth, np.int64)
    p = np.flatnonzero(
        (birth >= chunk.study_start) & (birth <= chunk.study_end) & (birth <= chunk.alive_end)
    )
    k = len(p)
    nights = NEWBORN_NIGHTS[0] + rng.poisson(NEWBORN_NIGHTS[1], k)
    nights = np.minimum(nights, chunk.alive_end[p] - birth[p])
    dp = np.full(k, "Z380", dtype=object)
    return _stay_frame(p, birth[p], dp, nights, np.zeros(k, bool), np.full(k, -1), "newborn")


def _transfers(chunk: Chunk, stays: Frame) -> Frame:
    """MCO→MCO transfers: the stay ends with SOR_MOD 7 and a stay in another establishment
    starts the same day (ENT_MOD 7); linked by ``transfer_from`` (the source's ``stay_key``)."""
    rng = chunk.rng
    cond_names = list(chunk.cond.names)
    acute = [cond_names.index(c) for c in TRANSFER_ACUTE_CONDITIONS if c in cond_names]
    rate = np.where(np.isin(stays["cond"], acute), TRANSFER_RATE_ACUTE, TRANSFER_RATE)
    kind = stays["kind"]
    eligible = (
        (stays["exit"] > stays["entry"])
        & (stays["exit"] < chunk.alive_end[stays["person"]])
        & ~stays["session"]
        & ~np.isin(kind, (STAY_KINDS["terminal"], STAY_KINDS["newborn"], STAY_KINDS["delivery"]))
    )
    hit = np.flatnonzero(eligible & (rng.random(len(stays)) < rate))
    if len(hit) == 0:
        return stays
    src = stays.take(hit)
    k = len(hit)
    los = np.maximum(_los(rng, np.maximum(src["los_mean"], 2.0)), 1)
    entry = src["exit"]
    new = Frame(
        **{name: src[name] for name in ("person", "dp", "los_mean", "cond")},
        entry=entry,
        surgical=np.zeros(k, bool),
        act=np.full(k, -1, np.int64),
        kind=np.full(k, STAY_KINDS["transfer"]),
        emergency=np.zeros(k, bool),
        exit=np.minimum(entry + los, chunk.alive_end[src["person"]]),
        session=np.zeros(k, bool),
        transfer_out=np.zeros(k, bool),
        transfer_from=src["stay_key"],
        stay_key=stays["stay_key"].max() + 1 + np.arange(k, dtype=np.int64),
    )
    stays["transfer_out"][hit] = True
    return Frame.concat([stays, Frame(**{c: new[c] for c in stays})])


def _separate(stays: Frame, chunk: Chunk) -> Frame:
    """Make a person's stays disjoint: shift entries after the previous exit, drop leftovers.

    A transfer-in stay may start on the exit day of the previous stay (its source).
    """
    kind = stays["kind"]
    order = np.lexsort(
        (
            kind == STAY_KINDS["terminal"],
            kind != STAY_KINDS["newborn"],
            stays["entry"],
            stays["person"],
        )
    )
    stays = stays.take(order)
    person = stays["person"]
    transfer_in = stays["transfer_from"] >= 0
    big = 10**7

    def clashes() -> np.ndarray:
        cm = np.maximum.accumulate(person * big + stays["exit"]) - person * big
        prev = np.r_[-big, cm[:-1]]
        same = np.r_[False, person[1:] == person[:-1]]
        entry = stays["entry"]
        return np.where(
            same & (entry <= prev) & ~(transfer_in & (entry == prev)), prev + 1 - entry, 0
        )

    for _ in range(6):
        shift = clashes()
        if not shift.any():
            break
        stays["entry"] = stays["entry"] + shift
        stays["exit"] = stays["exit"] + shift
    alive_end = chunk.alive_end[person]
    ok = (clashes() == 0) & (stays["entry"] <= alive_end)
    stays = stays.filter(ok)
    stays["exit"] = np.minimum(stays["exit"], chunk.alive_end[stays["person"]])
    return stays


def readmission_features(chunk: Chunk, stays: Frame) -> dict[str, np.ndarray]:
    persons = chunk.persons
    p = stays["person"]
    age = persons.age_of(p, stays["entry"])
    cond = chunk.cond
    n_cond = (cond.onset[p] <= stays["entry"][:, None]).sum(axis=1)
    # prior stays in the previous 365 days (sorted by person, entry)
    order = np.lexsort((stays["entry"], p))
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    sp, se = p[order], stays["entry"][order]
    lo = np.searchsorted(sp * 10**7 + se, sp * 10**7 + se - 365, side="left")
    prior = np.minimum(np.arange(len(order)) - lo, 3)[inv]

    def has(name: str) -> np.ndarray:
        if name not in cond.names:
            return np.zeros(len(p))
        return (cond.onset[p, cond.index(name)] <= stays["entry"]).astype(np.float64)

    return {
        "age_per_10y_over_65": np.maximum(age - 65, 0) / 10.0,
        "male": (persons.sex[p] == 1).astype(np.float64),
        "log1p_length_of_stay": np.log1p(stays["exit"] - stays["entry"]),
        "n_conditions": n_cond.astype(np.float64),
        "emergency_admission": stays["emergency"].astype(np.float64),
        "prior_stays_365d": prior.astype(np.float64),
        "heart_failure": has("heart_failure"),
        "copd_asthma": has("copd_asthma"),
        "cancer": has("cancer"),
        "dementia": has("dementia"),
        "free_complementary_cover": persons.cmu[p].astype(np.float64),
    }


def readmission_probability(chunk: Chunk, stays: Frame) -> np.ndarray:
    x = readmission_features(chunk, stays)
    eta = chunk.config.truth.readmission_intercept + sum(
        READMISSION_COEFFICIENTS[k] * v for k, v in x.items()
    )
    return 1.0 / (1.0 + np.exp(-eta))


def _readmissions(chunk: Chunk, stays: Frame) -> Frame:
    """Add readmission stays round by round (a readmission can itself be followed by one)."""
    rng = chunk.rng
    ref = chunk.ref
    n = len(stays)
    stays = stays.with_columns(p_readmit=np.zeros(n), index_stay=np.full(n, -1, np.int64))
    frontier = np.arange(n)
    next_key = int(stays["stay_key"].max()) + 1 if n else 0
    for _ in range(4):
        if len(frontier) == 0:
            break
        cand = stays.take(frontier)
        # sessions and stays transferred out are never index stays (p = 0)
        index = ~cand["session"] & ~cand["transfer_out"]
        p = np.where(index, readmission_probability(chunk, cand), 0.0)
        stays["p_readmit"][frontier] = p
        eligible = (
            index
            & (cand["exit"] < chunk.alive_end[cand["person"]])
            & (cand["kind"] != STAY_KINDS["terminal"])
        )
        hit = eligible & (rng.random(len(cand)) < p)
        src = cand.filter(hit)
        gap = rng.integers(1, 31, len(src))
        entry = src["exit"] + gap
        ok = entry <= chunk.alive_end[src["person"]]
        src, entry = src.filter(ok), entry[ok]
        if len(src) == 0:
            break
        same_dp = (rng.random(len(src)) < 0.5) & ~np.isin(
            src["kind"], (STAY_KINDS["delivery"], STAY_KINDS["newborn"])
        )
        dp_idx = ref.draw_general_stay(
            rng, chunk.persons.age_of(src["person"], entry), chunk.persons.sex[src["person"]]
        )
        new = Frame(
            person=src["person"],
            entry=entry,
            dp=np.where(same_dp, src["dp"], ref.general_stay_dp[dp_idx]),
            los_mean=np.where(same_dp, src["los_mean"], ref.general_stay_los[dp_idx]),
            surgical=np.zeros(len(src), bool),
            act=np.full(len(src), -1),
            kind=np.full(len(src), STAY_KINDS["readmission"]),
            cond=src["cond"],
            emergency=rng.random(len(src)) < 0.7,
        )
        los = _los(rng, np.maximum(new["los_mean"], 1.0))
        k = len(src)
        new = new.with_columns(
            exit=new["entry"] + los,
            session=np.zeros(k, bool),
            transfer_out=np.zeros(k, bool),
            transfer_from=np.full(k, -1, np.int64),
            stay_key=np.arange(next_key, next_key + k, dtype=np.int64),
            p_readmit=np.zeros(k),
            index_stay=src["stay_key"],
        )
        next_key += len(src)
        frontier = np.arange(len(stays), len(stays) + len(new))
        stays = Frame.concat([stays, new])
    return stays


def _pair_transfers(chunk: Chunk, stays: Frame, est: np.ndarray) -> np.ndarray:
    """Establishment of transfer-in stays: another MCO establishment of the source's region.

    A transfer whose source was dropped or moved (it no longer ends on the transfer's entry
    day) or that has no other establishment in the region becomes an ordinary stay (kind
    ``condition``, or ``background`` without a condition; it then counts as a readmission).
    Updates ``kind``, ``transfer_from`` / ``transfer_out`` in place; returns the
    establishments.
    """
    from sndslab.synth._pmsi_extra import other_mco_establishment

    key = stays["stay_key"]
    order = np.argsort(key, kind="stable")
    t = np.flatnonzero(stays["transfer_from"] >= 0)
    pos = np.clip(np.searchsorted(key[order], stays["transfer_from"][t]), 0, max(len(key) - 1, 0))
    src = order[pos] if len(t) else t
    ok = (key[src] == stays["transfer_from"][t]) & (stays["person"][src] == stays["person"][t])
    ok &= stays["exit"][src] == stays["entry"][t]
    provider = other_mco_establishment(chunk.rng, chunk, est[src])
    ok &= provider >= 0
    est = est.copy()
    est[t[ok]] = provider[ok]
    stays["transfer_from"][t[~ok]] = -1
    # an ordinary stay in the truth too (kind), not only in ENT_MOD and the readmission flag
    demoted = t[~ok]
    stays["kind"][demoted] = np.where(
        stays["cond"][demoted] >= 0, STAY_KINDS["condition"], STAY_KINDS["background"]
    )
    out = np.zeros(len(stays), bool)
    out[src[ok]] = True
    stays["transfer_out"] = out
    return est


def _severity(rng: np.random.Generator, age: np.ndarray, los: np.ndarray) -> np.ndarray:
    """Severity level 1–4 rising with age and length of stay, capped by the ATIH minimum
    number of nights of each level (``MIN_NIGHTS_PER_LEVEL``)."""
    n = len(los)
    sev = 1 + (
        rng.random(n) < np.clip(0.1 + 0.004 * np.maximum(age - 50, 0) + 0.02 * los, 0, 0.9)
    ).astype(np.int64)
    sev = sev + ((sev == 2) & (rng.random(n) < 0.3 + 0.01 * los)).astype(np.int64)
    sev = sev + ((sev == 3) & (rng.random(n) < 0.2)).astype(np.int64)
    allowed = np.ones(n, np.int64)
    for level, nights in MIN_NIGHTS_PER_LEVEL.items():
        allowed = np.where(los >= nights, level, allowed)
    return np.minimum(sev, allowed)


def ghm_suffix(root: np.ndarray, severity: np.ndarray, los: np.ndarray) -> np.ndarray:
    """Sixth character of the GHM (ATIH format): ``Z`` for non-segmented roots (CMD 28
    sessions, 27Z transplants), ``A``–``D`` in CMD 14 and 15, else ``J``/``T`` for 0-night
    stays (J for surgical roots) and the severity digit 1–4."""
    r = np.asarray(root).astype("U5")
    if len(r) == 0:
        return np.zeros(0, "U1")
    cmd = r.astype("U2")
    letters = np.array(list("ABCD"))[np.clip(severity, 1, 4) - 1]
    zero = np.where(np.char.find(r, "C") == 2, "J", "T")
    suffix = np.where(los == 0, zero, np.clip(severity, 1, 4).astype(str))
    suffix = np.where(np.isin(cmd, ("14", "15")), letters, suffix)
    return np.where((np.char.find(r, "Z") == 2) & ~np.isin(cmd, ("14", "15")), "Z", suffix)


def ghm_suffixes(root: str) -> tuple[str, ...]:
    """Every sixth character ``ghm_suffix`` can give a root (for the GHM referential)."""
    if root[:2] in ("14", "15"):
        return ("A", "B", "C", "D")
    if root[2] == "Z":
        return ("Z",)
    return ("1", "2", "3", "4", "J", "T")


def _units(rng: np.random.Generator, stays: Frame, los: np.ndarray) -> np.ndarray:
    """Number of medical units (RUM) of each stay: 1, or 2–3 for some stays of ≥ 1 night
    (more often when long or admitted through the emergency department)."""
    p = MULTI_UNIT_PER_NIGHT * los + np.where(stays["emergency"], MULTI_UNIT_EMERGENCY, 0.0)
    p = np.where((los >= 1) & ~stays["session"], np.minimum(p, MULTI_UNIT_CAP), 0.0)
    multi = rng.random(len(los)) < p
    third = multi & (los >= 4) & (rng.random(len(los)) < 0.25)
    return 1 + multi.astype(np.int64) + third.astype(np.int64)


def _related_diagnosis(chunk: Chunk, stays: Frame) -> np.ndarray:
    """DR (DGN_REL): the disease treated by a session (the tumour for radio/chemotherapy,
    N18.5 for dialysis, anaemia D64.9 for transfusions); '' elsewhere (ATIH guide: the DR is
    filled when the DP is a Z code of care for a chronic disease)."""
    dp = np.asarray(stays["dp"]).astype(str)
    out = np.full(len(dp), "", dtype=object)
    cancer_rows = np.flatnonzero(
        np.char.startswith(dp, "Z510")
        | np.char.startswith(dp, "Z511")
        | np.char.startswith(dp, "Z512")
    )
    names = list(chunk.cond.names)
    if len(cancer_rows) and "cancer" in names:
        j = names.index("cancer")
        p = stays["person"][cancer_rows]
        out[cancer_rows] = chunk.ref.condition_main_code(
            chunk.rng, np.full(len(p), j), chunk.cond.subtype[p]
        )
    out[np.char.startswith(dp, "Z491")] = "N185"
    out[np.char.startswith(dp, "Z513")] = "D649"
    return out


def _readmitted(stays: Frame, index: np.ndarray) -> np.ndarray:
    """Observed 30-day readmission of index stays: another stay of the person, not a session
    nor a transfer-in, starting ≤ 30 days after the exit."""
    person = stays["person"]
    n = len(person)
    order = np.lexsort((stays["entry"], person))
    sp, se = person[order].astype(np.int64), stays["entry"][order].astype(np.int64)
    counts = ~stays["session"][order] & (stays["transfer_from"][order] < 0)
    big = np.int64(10**7)
    val = np.where(counts, sp * big + se, np.iinfo(np.int64).max)
    after = np.r_[np.minimum.accumulate(val[::-1])[::-1][1:], np.iinfo(np.int64).max]
    nxt_sorted = np.where(after // big == sp, after - sp * big, NO_DAY)
    nxt = np.full(n, NO_DAY, np.int64)
    nxt[order] = nxt_sorted
    return index & (nxt - stays["exit"] <= 30)


def _finish(chunk: Chunk, stays: Frame) -> Frame:
    """Establishment, modes of entry/exit, GHM, units, DR, ids and the readmission flag."""
    rng = chunk.rng
    ref = chunk.ref
    n = len(stays)
    person = stays["person"]
    est = _choose_establishment(chunk, person, stays["surgical"])
    est = _pair_transfers(chunk, stays, est)
    transfer_in = stays["transfer_from"] >= 0
    transfer_out = stays["transfer_out"]
    session = stays["session"]
    los = stays["exit"] - stays["entry"]
    died = stays["exit"] >= chunk.persons.death[person]
    ssr_share = ref.ssr_share_of_stays(stays)
    to_ssr = ~died & ~session & ~transfer_out & (rng.random(n) < ssr_share)
    ent_mod = np.where(transfer_in, "7", "8").astype(object)
    ent_prv = np.where(transfer_in, "1", np.where(stays["emergency"], "5", "")).astype(object)
    sor_mod = np.where(died, "9", np.where(to_ssr | transfer_out, "7", "8")).astype(object)
    sor_des = np.where(transfer_out, "1", np.where(to_ssr, "2", "")).astype(object)
    age = chunk.persons.age_of(person, stays["entry"])
    sev = np.where(session, 1, _severity(rng, age, los))
    root = ref.ghm_root_of(stays["dp"], stays["surgical"])
    ghm = np.char.add(root.astype(str), ghm_suffix(root, sev, los)).astype(object)
    n_units = _units(rng, stays, los)
    dr = _related_diagnosis(chunk, stays)
    stay_id = chunk.new_ids("stay", n)
    index = ~died & ~session & ~transfer_out
    return stays.with_columns(
        stay=stay_id,
        est=est,
        ent_mod=ent_mod,
        ent_prv=ent_prv,
        sor_mod=sor_mod,
        sor_des=sor_des,
        ghm=ghm,
        severity=sev,
        n_units=n_units,
        dr=dr,
        to_ssr=to_ssr,
        died=died,
        readmission_index=index,
        readmitted_30d=_readmitted(stays, index),
    )


def _diagnoses(chunk: Chunk, stays: Frame) -> Frame:
    """Associated diagnoses (DAS): comorbid conditions present at admission, fall causes."""
    rng = chunk.rng
    ref = chunk.ref
    cond = chunk.cond
    p = stays["person"]
    present = cond.onset[p] <= stays["entry"][:, None]
    if len(stays) == 0:
        return Frame(stay=np.zeros(0, np.int64), code=np.zeros(0, object))
    rows, cols = np.nonzero(present & (rng.random(present.shape) < 0.7))
    codes = ref.condition_main_code(rng, cols, cond.subtype[p[rows]])
    das = [Frame(stay=stays["stay"][rows], code=codes)]
    das.append(fracture_das(chunk, stays))  # external causes (some missing), M80x/C795
    out = Frame.concat(das)
    # a code that is the DP is not repeated as DAS (SpF rule, kept consistent in the source)
    pos = np.searchsorted(stays["stay"], out["stay"])  # stay ids are increasing
    return out.filter(stays["dp"][pos] != out["code"])


def _acts(chunk: Chunk, stays: Frame) -> Frame:
    """CCAM acts: the planned act of surgical stays and deliveries (activity 1) with its
    anaesthesia row (same code, activity 4, ATIH/CCAM: the anaesthetist codes the act under
    activity 4) when the stay is surgical or a delivery under epidural or general anaesthesia
    (``EPIDURAL_SHARE`` of vaginal deliveries), plus imaging/ECG for all stays (activity 1)."""
    rng = chunk.rng
    ref = chunk.ref
    planned = np.flatnonzero(stays["act"] >= 0)
    delivery = stays["kind"][planned] == STAY_KINDS["delivery"]
    anaesthesia = planned[
        stays["surgical"][planned] | (delivery & (rng.random(len(planned)) < EPIDURAL_SHARE))
    ]
    rows = [
        Frame(
            stay=stays["stay"][planned],
            code=stays["act"][planned],
            delay=np.zeros(len(planned), np.int64),
            activity=np.ones(len(planned), np.int64),
        ),
        Frame(
            stay=stays["stay"][anaesthesia],
            code=stays["act"][anaesthesia],
            delay=np.zeros(len(anaesthesia), np.int64),
            activity=np.full(len(anaesthesia), 4, np.int64),
        ),
    ]
    k = rng.poisson(0.8, len(stays))
    k[stays["session"]] = 0  # a session record carries only its own act (not modelled)
    parent = repeat_index(k)
    los = (stays["exit"] - stays["entry"])[parent]
    rows.append(
        Frame(
            stay=stays["stay"][parent],
            code=rng.choice(ref.hospital_act_codes, len(parent)),
            delay=np.floor(rng.random(len(parent)) * (los + 1)).astype(np.int64),
            activity=np.ones(len(parent), np.int64),
        )
    )
    out = Frame.concat(rows)
    return out.take(np.argsort(out["stay"], kind="stable"))
