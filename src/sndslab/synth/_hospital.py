"""Acute-care (MCO) hospital stays and the 30-day readmission truth.

Stays come from five sources: a baseline rate by age/sex (general medicine and surgery),
the conditions (after onset), falls of the elderly, deaths in hospital (terminal stays) and
readmissions. Readmissions follow a known logistic model of patient and stay features (the
injected truth ``READMISSION_COEFFICIENTS``): after each eligible stay (alive, not transferred),
a readmission occurs within 30 days with probability ``expit(intercept + x·β)``.
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
}

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
    """Length of stay in nights: 0 for ambulatory stays, else a geometric-like skewed draw."""
    mean = np.asarray(mean, np.float64)
    ambulatory = mean <= 0.5
    los = np.floor(rng.gamma(1.5, np.maximum(mean, 0.5) / 1.5)).astype(np.int64)
    return np.where(ambulatory, 0, np.maximum(los, 1))


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
    p, day = chunk.calendar["stay"].poisson_days(rng, rate, start, end)
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
    stays = Frame.concat(parts)
    los = _los(rng, stays["los_mean"])
    terminal = stays["kind"] == STAY_KINDS["terminal"]
    los = np.where(terminal, stays["los_mean"].astype(np.int64), los)
    stays = stays.with_columns(exit=stays["entry"] + los)
    stays = _separate(stays, chunk)
    stays = _readmissions(chunk, stays)
    stays = _separate(stays, chunk)
    stays = _finish(chunk, stays)
    das = _diagnoses(chunk, stays)
    acts = _acts(chunk, stays)
    return stays, das, acts


def _separate(stays: Frame, chunk: Chunk) -> Frame:
    """Make a person's stays disjoint: shift entries after the previous exit, drop leftovers."""
    order = np.lexsort((stays["kind"] == STAY_KINDS["terminal"], stays["entry"], stays["person"]))
    stays = stays.take(order)
    person = stays["person"]
    big = 10**7
    for _ in range(6):
        exit_ = stays["exit"]
        cm = np.maximum.accumulate(person * big + exit_) - person * big
        prev = np.r_[-big, cm[:-1]]
        same = np.r_[False, person[1:] == person[:-1]]
        clash = same & (stays["entry"] <= prev)
        if not clash.any():
            break
        shift = np.where(clash, prev + 1 - stays["entry"], 0)
        stays["entry"] = stays["entry"] + shift
        stays["exit"] = stays["exit"] + shift
    alive_end = chunk.alive_end[person]
    exit_ = stays["exit"]
    cm = np.maximum.accumulate(person * big + exit_) - person * big
    prev = np.r_[-big, cm[:-1]]
    same = np.r_[False, person[1:] == person[:-1]]
    ok = ~(same & (stays["entry"] <= prev)) & (stays["entry"] <= alive_end)
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
    stays = stays.with_columns(
        p_readmit=np.zeros(n),
        index_stay=np.full(n, -1, np.int64),
        stay_key=np.arange(n, dtype=np.int64),
    )
    frontier = np.arange(n)
    next_key = n
    for _ in range(4):
        if len(frontier) == 0:
            break
        cand = stays.take(frontier)
        p = readmission_probability(chunk, cand)
        stays["p_readmit"][frontier] = p
        eligible = (cand["exit"] < chunk.alive_end[cand["person"]]) & (
            cand["kind"] != STAY_KINDS["terminal"]
        )
        hit = eligible & (rng.random(len(cand)) < p)
        src = cand.filter(hit)
        gap = rng.integers(1, 31, len(src))
        entry = src["exit"] + gap
        ok = entry <= chunk.alive_end[src["person"]]
        src, entry = src.filter(ok), entry[ok]
        if len(src) == 0:
            break
        same_dp = rng.random(len(src)) < 0.5
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
        new = new.with_columns(
            exit=new["entry"] + los,
            p_readmit=np.zeros(len(src)),
            index_stay=src["stay_key"],
            stay_key=np.arange(next_key, next_key + len(src), dtype=np.int64),
        )
        next_key += len(src)
        frontier = np.arange(len(stays), len(stays) + len(new))
        stays = Frame.concat([stays, new])
    return stays


def _finish(chunk: Chunk, stays: Frame) -> Frame:
    """Establishment, modes of entry/exit, GHM, ids and the observed readmission flag."""
    rng = chunk.rng
    ref = chunk.ref
    n = len(stays)
    person = stays["person"]
    est = _choose_establishment(chunk, person, stays["surgical"])
    los = stays["exit"] - stays["entry"]
    died = stays["exit"] >= chunk.persons.death[person]
    ssr_share = ref.ssr_share_of_stays(stays)
    to_ssr = ~died & (rng.random(n) < ssr_share)
    ent_mod = np.where(stays["kind"] == STAY_KINDS["readmission"], "8", "8").astype(object)
    ent_prv = np.where(stays["emergency"], "5", "").astype(object)
    sor_mod = np.where(died, "9", np.where(to_ssr, "7", "8")).astype(object)
    sor_des = np.where(to_ssr, "2", "").astype(object)
    age = chunk.persons.age_of(person, stays["entry"])
    sev = 1 + (
        rng.random(n) < np.clip(0.1 + 0.004 * np.maximum(age - 50, 0) + 0.02 * los, 0, 0.9)
    ).astype(np.int64)
    sev = sev + ((sev == 2) & (rng.random(n) < 0.3 + 0.01 * los)).astype(np.int64)
    sev = sev + ((sev == 3) & (rng.random(n) < 0.2)).astype(np.int64)
    root = ref.ghm_root_of(stays["dp"], stays["surgical"])
    suffix = np.where(los == 0, np.where(stays["surgical"], "J", "T"), sev.astype(str))
    ghm = np.char.add(root.astype(str), suffix.astype(str)).astype(object)
    stay_id = chunk.new_ids("stay", n)
    # observed 30-day readmission: another MCO stay of the person starting ≤ 30 days after exit
    order = np.lexsort((stays["entry"], person))
    nxt = np.full(n, NO_DAY, np.int64)
    same = person[order][1:] == person[order][:-1]
    nxt_sorted = np.where(same, stays["entry"][order][1:], NO_DAY)
    nxt[order[:-1]] = nxt_sorted
    readmitted = (nxt - stays["exit"] <= 30) & ~died
    return stays.with_columns(
        stay=stay_id,
        est=est,
        ent_mod=ent_mod,
        ent_prv=ent_prv,
        sor_mod=sor_mod,
        sor_des=sor_des,
        ghm=ghm,
        severity=sev,
        to_ssr=to_ssr,
        died=died,
        readmitted_30d=readmitted,
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
    """CCAM acts: the planned act of surgical stays, plus imaging/ECG for medical stays."""
    rng = chunk.rng
    ref = chunk.ref
    planned = stays["act"] >= 0
    rows = [
        Frame(
            stay=stays["stay"][planned],
            code=stays["act"][planned],
            delay=np.zeros(planned.sum(), np.int64),
        )
    ]
    k = rng.poisson(0.8, len(stays))
    parent = repeat_index(k)
    los = (stays["exit"] - stays["entry"])[parent]
    rows.append(
        Frame(
            stay=stays["stay"][parent],
            code=rng.choice(ref.hospital_act_codes, len(parent)),
            delay=np.floor(rng.random(len(parent)) * (los + 1)).astype(np.int64),
        )
    )
    return Frame.concat(rows)
