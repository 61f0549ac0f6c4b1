"""Laboratory tests (ER_BIO_F) and outpatient CCAM acts such as imaging (ER_CAM_F)."""

from __future__ import annotations

import numpy as np

from sndslab.synth._care import (
    NAT_BIO,
    NAT_IMAGING,
    care_window,
    claim_lines,
    poisson_days,
    profession_code,
)
from sndslab.synth._context import Chunk
from sndslab.synth._dcir import SAT_BIO, SAT_CAM
from sndslab.synth._drugs import prescribing_visits, unique_rows
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY
from sndslab.synth._providers import Providers
from sndslab.synth._world import LAB


def biology_and_imaging(chunk: Chunk, providers: Providers, visits: Frame) -> Frame:
    """Laboratory tests (ER_BIO_F) and outpatient CCAM acts (ER_CAM_F).

    Each test or act is prescribed at a GP or specialist visit of the person (the latest
    before its drawn day, else the next) and done 0–7 days after it
    (``_drugs.prescribing_visits``): PFS_PRE_NUM/PRE_PRE_DTD name that visit.
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start, end = care_window(chunk)
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    frames: list[Frame] = []
    bio_p: list[np.ndarray] = []
    bio_d: list[np.ndarray] = []
    bio_c: list[np.ndarray] = []
    cam_p: list[np.ndarray] = []
    cam_d: list[np.ndarray] = []
    cam_c: list[np.ndarray] = []

    def stream(rate: np.ndarray, code: int, s: np.ndarray, dest: tuple[list, list, list]) -> None:
        kind = chunk.calendar["lab" if dest is bio else "imaging"]
        p, d = poisson_days(rng, rate, s, end, kind=kind)
        dest[0].append(p)
        dest[1].append(d)
        dest[2].append(np.full(len(p), code, np.int64))

    bio = (bio_p, bio_d, bio_c)
    cam = (cam_p, cam_d, cam_c)
    for code, rate_fn in ref.lab_items:
        stream(rate_fn(mid_age, persons.sex), code, start, bio)
    for code, rate_fn in ref.imaging_items:
        stream(rate_fn(mid_age, persons.sex), code, start, cam)
    for j, name in enumerate(chunk.cond.names):
        onset = chunk.cond.onset[:, j].astype(np.int64)
        has = onset < NO_DAY
        s = np.maximum(onset, start)
        for code, per_year in ref.condition_biology[name]:
            stream(np.where(has, per_year, 0.0), code, s, bio)
        for code, per_year in ref.condition_ccam[name]:
            stream(np.where(has, per_year, 0.0), code, s, cam)
        for k, items in enumerate(ref.subtype_ccam[name]):
            in_sub = has & (chunk.cond.subtype == k)
            for code, per_year in items:
                stream(np.where(in_sub, per_year, 0.0), code, s, cam)
    person = np.concatenate(bio_p)
    day = np.concatenate(bio_d)
    code = np.concatenate(bio_c)
    pre, pre_day, day = prescribing_visits(chunk, visits, person, day, np.zeros(len(day), bool))
    # a test prescribed twice for the same day is done once
    first = unique_rows(person, day, code)
    person, day, code = person[first], day[first], code[first]
    pre, pre_day = pre[first], pre_day[first]
    lab = np.where(
        rng.random(len(person)) < 0.9,
        persons.lab[person],
        providers.pick(chunk, person, profession_code(LAB)),
    )
    coef = ref.nabm_coef[code]
    frames.append(
        claim_lines(
            chunk,
            person,
            day,
            category="biology",
            nat=NAT_BIO,
            paid=np.round(coef * 0.27, 2),
            rate=60.0,
            exe=lab,
            pre=pre,
            coef=coef,
            sat=SAT_BIO,
            code=code,
            sat_qty=1.0,
        ).with_columns(pre_day=pre_day)
    )
    person = np.concatenate(cam_p)
    day = np.concatenate(cam_d)
    code = np.concatenate(cam_c)
    exe = providers.pick(chunk, person, ref.ccam_specialty[code])
    ok = exe >= 0
    person, day, code, exe = person[ok], day[ok], code[ok], exe[ok]
    pre, pre_day, day = prescribing_visits(chunk, visits, person, day, np.zeros(len(day), bool))
    price = ref.ccam_price[code]
    frames.append(
        claim_lines(
            chunk,
            person,
            day,
            category="ccam_act",
            nat=NAT_IMAGING,
            paid=price,
            rate=70.0,
            exe=exe,
            pre=pre,
            sat=SAT_CAM,
            code=code,
            sat_qty=1.0,
            unit_price=price,
        ).with_columns(pre_day=pre_day)
    )
    return Frame.concat(frames)
