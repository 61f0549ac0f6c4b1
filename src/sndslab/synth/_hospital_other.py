"""Post-acute and other hospital care, long-term diseases and deaths.

- SSR (rehabilitation) stays right after MCO stays flagged for transfer (SOR_MOD 7);
- HAD (hospital at home) episodes for cancer, dementia, heart failure…;
- psychiatric (RIM-P) stays for psychosis and depression;
- hospital outpatient visits (ACE) and emergency passages not followed by a stay (ATU);
- the DCIR side of hospital activity: private clinic stay fees, public stays billed directly
  (ETE_IND_TAA = 1) and information-only lines of public ACE (DPN_QLF = 71);
- long-term disease declarations (IR_IMB_R) and deaths with their causes (CépiDc).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sndslab.synth._care import claim_lines
from sndslab.synth._context import Chunk
from sndslab.synth._covid import COVID_ICD10, covid_dead
from sndslab.synth._dcir import empty_claims
from sndslab.synth._deaths import (
    cause_model,
    certificate_lines,
    encode_group,
    present_conditions,
    underlying_causes,
)
from sndslab.synth._frame import Frame
from sndslab.synth._hospital import STAY_KINDS
from sndslab.synth._ids import NO_DAY, day_of, rank_within, repeat_index
from sndslab.synth._world import CH, CHU, HAD_SERVICE, PSY_HOSPITAL, SSR_CENTRE

YEAR = 365.25
ALD_OPEN_END = day_of(1600, 1, 1)  # IR_IMB_R sentinel for an open-ended ALD
NAT_STAY, NAT_ATU, NAT_SPEC = 2211, 2238, 1112


def ssr_stays(chunk: Chunk, stays: Frame) -> tuple[Frame, Frame]:
    """SSR stays following MCO stays with ``to_ssr``; returns ``(ssr, csarr_acts)``."""
    rng = chunk.rng
    ref = chunk.ref
    src = stays.filter(stays["to_ssr"])
    n = len(src)
    person = src["person"]
    entry = src["exit"]
    los = np.maximum(np.floor(rng.gamma(2.0, 14.0, n)).astype(np.int64), 3)
    exit_ = np.minimum(entry + los, chunk.alive_end[person])
    keep = exit_ > entry
    src, person, entry, exit_ = src.filter(keep), person[keep], entry[keep], exit_[keep]
    n = len(src)
    est = ref.establishment_for(chunk.persons.dep[person], np.full(n, SSR_CENTRE))
    gme = np.char.add(
        np.char.add(ref.cmd_of(src["ghm"]).astype(str), rng.integers(10, 60, n).astype(str)),
        np.where(rng.random(n) < 0.7, "A1", "B2"),
    ).astype(object)
    ssr = Frame(
        stay=chunk.new_ids("ssr", n),
        person=person,
        est=est,
        entry=entry,
        exit=exit_,
        mor_prp=src["dp"],
        etl_aff=src["dp"],
        fp_pec=rng.choice(ref.ssr_purpose_codes, n),
        gme=gme,
        mco_stay=src["stay"],
    )
    weeks = ((exit_ - entry) // 7 + 1).astype(np.int64)
    ssr = ssr.with_columns(weeks=weeks)
    w = repeat_index(weeks)
    k = rng.integers(2, 9, len(w))
    a = repeat_index(k)
    acts = Frame(
        stay=ssr["stay"][w][a], week=rank_within(w)[a] + 1, code=rng.choice(ref.csarr_codes, len(a))
    )
    return ssr, acts


def _condition_episodes(
    chunk: Chunk,
    rate_of: Callable[[Any], float],
    *,
    est_kind: int,
    care: str,
    los_shape: float,
    los_scale: float,
    ids: str,
) -> Frame:
    """Episodes (HAD, psychiatry) of persons with a condition, at ``rate_of(spec)`` per
    person-year after onset: person, condition, entry, exit, main diagnosis, establishment."""
    rng = chunk.rng
    ref = chunk.ref
    parts: list[Frame] = []
    start = chunk.care_start
    end = chunk.alive_end
    for j, name in enumerate(chunk.cond.names):
        rate = float(rate_of(ref.conditions[name]))
        if rate <= 0:
            continue
        onset = chunk.cond.onset[:, j].astype(np.int64)
        s = np.maximum(onset, start)
        rate_p = np.where(onset < NO_DAY, rate, 0.0)
        p, entry = chunk.calendar[care].poisson_days(rng, rate_p, s, end)
        parts.append(Frame(person=p, entry=entry, cond=np.full(len(p), j, np.int64)))
    if not parts:
        return Frame()
    episodes = Frame.concat(parts)
    n = len(episodes)
    person = episodes["person"]
    los = np.maximum(np.floor(rng.gamma(los_shape, los_scale, n)).astype(np.int64), 1)
    return episodes.with_columns(
        stay=chunk.new_ids(ids, n),
        exit=np.minimum(episodes["entry"] + los, chunk.alive_end[person]),
        dp=ref.condition_main_code(rng, episodes["cond"], chunk.cond.subtype[person]),
        est=ref.establishment_for(chunk.persons.dep[person], np.full(n, est_kind)),
    )


def had_stays(chunk: Chunk) -> Frame:
    """Hospital-at-home episodes for conditions with ``had_share`` (per person-year)."""
    had = _condition_episodes(
        chunk,
        lambda spec: spec.had_share,
        est_kind=HAD_SERVICE,
        care="had",
        los_shape=1.5,
        los_scale=20.0,
        ids="had",
    )
    if len(had) == 0:
        return had
    return had.with_columns(pec_pal=chunk.rng.choice(chunk.ref.had_care_modes, len(had)))


def psy_stays(chunk: Chunk) -> Frame:
    """Full-time psychiatric stays (RIM-P) for conditions with ``psy_share`` of their stays."""
    psy = _condition_episodes(
        chunk,
        lambda spec: spec.hosp_rate_per_year * spec.psy_share,
        est_kind=PSY_HOSPITAL,
        care="psy",
        los_shape=1.2,
        los_scale=25.0,
        ids="psy",
    )
    if len(psy) == 0:
        return psy
    legal = np.where(chunk.rng.random(len(psy)) < 0.2, "3", "1").astype(object)
    return psy.with_columns(legal=legal)


def outpatient_hospital(chunk: Chunk, fall_rows: Frame) -> Frame:
    """ACE visits in public hospitals and emergency passages without admission (ATU)."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start = chunk.care_start
    end = chunk.alive_end
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    rows: list[Frame] = []
    for kind, rate, care in (
        (0, ref.general.ace_rate(mid_age, persons.sex), "ace"),
        (1, ref.general.atu_rate(mid_age, persons.sex), "emergency"),
    ):
        cal = chunk.calendar[care]
        p, day = cal.poisson_days(rng, rate * np.sqrt(persons.frailty), start, end)
        rows.append(Frame(person=p, day=day, kind=np.full(len(p), kind, np.int64)))
    ed = fall_rows.filter(fall_rows["channel"] == 1)
    rows.append(Frame(person=ed["person"], day=ed["day"], kind=np.ones(len(ed), np.int64)))
    ace = Frame.concat(rows)
    m = len(ace)
    public_kind = np.where(rng.random(m) < 0.7, CH, CHU)
    est = ref.establishment_for(persons.dep[ace["person"]], public_kind)
    spe = np.where(ace["kind"] == 1, 0, rng.choice(ref.ace_specialties, m))
    with_act = rng.random(m) < np.where(ace["kind"] == 1, 0.45, 0.12)
    act = np.where(with_act, rng.choice(ref.hospital_act_codes, m), -1)
    return ace.with_columns(visit=chunk.new_ids("ace", m), est=est, specialty=spe, act=act)


def hospital_claim_lines(chunk: Chunk, stays: Frame, ace: Frame) -> Frame:
    """DCIR lines generated by hospital activity (see module docstring)."""
    rng = chunk.rng
    art = chunk.config.artefacts
    est = chunk.world.establishments
    frames: list[Frame] = []
    if len(stays):
        public = est.public[stays["est"]]
        los = (stays["exit"] - stays["entry"]).astype(np.float64)
        tariff = np.round(900.0 * stays["severity"] + 250.0 * los, 2)
        ghs = chunk.ref.ghs_number(stays["ghm"])
        for sel, taa, category in (
            (~public, 0, "private_stay_billing"),
            (public & (rng.random(len(stays)) < art.ete_ind_taa_share), 1, "public_stay_billing"),
        ):
            idx = np.flatnonzero(sel)
            s = stays.take(idx)
            f = claim_lines(
                chunk,
                s["person"],
                s["entry"],
                category=category,
                nat=NAT_STAY,
                paid=tariff[idx],
                rate=80.0,
                exe=np.full(len(idx), -1, np.int64),
                est=s["est"],
            )
            f["day_end"] = s["exit"]
            f["taa"] = np.full(len(idx), taa, np.int64)
            f["ghs"] = ghs[idx]
            frames.append(f)
    if len(ace):
        info = ace.filter(rng.random(len(ace)) < art.dpn_qlf_71_share)
        nat = np.where(info["kind"] == 1, NAT_ATU, NAT_SPEC)
        f = claim_lines(
            chunk,
            info["person"],
            info["day"],
            category="ace_information",
            nat=nat,
            paid=np.where(info["kind"] == 1, 25.32, 30.0),
            rate=70.0,
            exe=np.full(len(info), -1, np.int64),
            est=info["est"],
        )
        f["dpn"] = np.full(len(info), 71, np.int64)
        frames.append(f)
    return Frame.concat(frames) if frames else empty_claims()


def ald_declarations(chunk: Chunk) -> Frame:
    """IR_IMB_R rows: ALD for conditions with an ALD number, plus occupational exemptions."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    parts: list[Frame] = []
    for j, name in enumerate(chunk.cond.names):
        spec = ref.conditions[name]
        if spec.ald_number is None:
            continue
        onset = chunk.cond.onset[:, j].astype(np.int64)
        who = np.flatnonzero((onset < NO_DAY) & (rng.random(len(onset)) < spec.ald_share))
        start = onset[who] + rng.integers(0, 90, len(who))
        ok = start <= chunk.alive_end[who]
        who, start = who[ok], start[ok]
        open_ended = rng.random(len(who)) < 0.75
        end = np.where(open_ended, ALD_OPEN_END, start + rng.integers(3, 10, len(who)) * 365)
        parts.append(
            Frame(
                person=who,
                start=start,
                end=end,
                ald=np.full(len(who), int(spec.ald_number), np.int64),
                etm=np.full(len(who), str(spec.ald_etm_nat or "41"), dtype=object),
                icd10=ref.condition_main_code(rng, np.full(len(who), j), chunk.cond.subtype[who]),
                cond=np.full(len(who), j, np.int64),
            )
        )
    ald_rows = Frame.concat(parts) if parts else Frame()
    n_occ = rng.binomial(len(ald_rows), chunk.config.artefacts.occupational_imb_share)
    adults = np.flatnonzero(persons.age_at(chunk.study_start) >= 20)
    if n_occ and len(adults):
        who = rng.choice(adults, n_occ)
        start = chunk.study_start - rng.integers(0, 3 * 365, n_occ)
        occ = Frame(
            person=who,
            start=start.astype(np.int64),
            end=(start + rng.integers(30, 720, n_occ)).astype(np.int64),
            ald=np.zeros(n_occ, np.int64),
            etm=rng.choice(np.array(["11", "12", "13"], dtype=object), n_occ),
            icd10=rng.choice(ref.occupational_codes, n_occ),
            cond=np.full(n_occ, -1, np.int64),
        )
        ald_rows = Frame.concat([ald_rows, occ])
    return ald_rows


def deaths(chunk: Chunk, stays: Frame) -> tuple[Frame, Frame]:
    """Death certificates (KI_CCI_R) and their listed causes (KI_ECD_R): the underlying cause
    and the certificate lines come from :mod:`sndslab.synth._deaths`."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    dead = np.flatnonzero(persons.death <= chunk.study_end)
    cause_cond = chunk.death_cause[dead]
    day = persons.death[dead].astype(np.int64)
    age = persons.age_of(dead, day).astype(float)
    sex = persons.sex[dead]
    model = cause_model(chunk.cond.names)
    covid = covid_dead(chunk)[dead]  # COVID-19 deaths of 2020-2021 (_covid): group covid, U071
    cause_cond = np.where(covid, encode_group(model, "covid"), cause_cond)
    underlying, group = underlying_causes(
        rng, model, cause_cond, age, sex, chunk.cond.subtype[dead]
    )
    underlying = np.where(covid, COVID_ICD10, underlying)
    terminal = np.zeros(len(persons), bool)
    terminal[stays["person"][stays["kind"] == STAY_KINDS["terminal"]]] = True
    place = np.where(terminal[dead], "2", ref.draw_non_hospital_place(rng, len(dead)))
    cert = Frame(
        person=dead,
        day=day,
        cause=underlying,
        place=place.astype(object),
        cause_cond=cause_cond.astype(np.int64),
        group=group.astype(np.int64),
    )
    # part II: the conditions present at death (their main code)
    rows, cols = present_conditions(chunk.cond.onset[dead], persons.death[dead])
    comorbid = ref.condition_main_code(rng, cols, chunk.cond.subtype[dead[rows]])
    listed = certificate_lines(
        rng, model, dead, underlying, group, age, sex, dead[rows], np.asarray(comorbid, object)
    )
    return cert, listed
