"""Shared building blocks of outpatient care: claim-line construction and Poisson date draws.

Every care step (``_visits``, ``_drugs``, ``_biology``, ``_falls``) returns *claim lines* built by
:func:`claim_lines` (see ``_dcir.CLAIM_COLUMNS``) so the DCIR projection is one generic
function. Counts are Poisson draws whose rates depend on age, sex, frailty and the conditions
present (:func:`poisson_days`).
"""

from __future__ import annotations

import numpy as np

from sndslab.synth._calendar import DayIntensity
from sndslab.synth._context import Chunk
from sndslab.synth._dcir import SAT_NONE
from sndslab.synth._frame import Frame
from sndslab.synth._ids import repeat_index
from sndslab.synth._population import key_for_events

YEAR = 365.25

# Event categories (truth manifest, events layer).
CATEGORIES = {
    "gp_visit": 1,
    "specialist_visit": 2,
    "nurse_act": 3,
    "physio_act": 4,
    "dispensing": 5,
    "biology": 6,
    "ccam_act": 7,
    "ucd_dispensing": 8,
    "private_stay_billing": 9,
    "public_stay_billing": 10,
    "ace_information": 11,
}

NAT_GP, NAT_SPEC, NAT_HOME, NAT_TELE = 1111, 1112, 1211, 1191
NAT_NURSE, NAT_PHYSIO, NAT_BIO, NAT_IMAGING, NAT_UCD = 3111, 3122, 3211, 1351, 3317


def profession_code(kind: int) -> int:
    return 1000 + kind


def poisson_days(
    rng: np.random.Generator,
    rate: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    *,
    kind: DayIntensity | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson events at ``rate`` per year over ``[start, end]`` (days, inclusive): uniform, or
    following the calendar intensity ``kind`` (``chunk.calendar["gp"]``…, see ``_calendar``)."""
    if kind is not None:
        return kind.poisson_days(rng, rate, start, end)
    length = np.maximum(end - start + 1, 0)
    counts = rng.poisson(np.maximum(rate, 0) * length / YEAR)
    parent = repeat_index(counts)
    day = start[parent] + np.floor(rng.random(len(parent)) * length[parent]).astype(np.int64)
    return parent, day


def claim_lines(
    chunk: Chunk,
    person: np.ndarray,
    day: np.ndarray,
    *,
    category: str,
    nat: np.ndarray | int,
    paid: np.ndarray | float,
    rate: np.ndarray | float,
    exe: np.ndarray,
    pre: np.ndarray | None = None,
    qty: np.ndarray | float = 1.0,
    coef: np.ndarray | float = 1.0,
    sat: int = SAT_NONE,
    code: np.ndarray | None = None,
    sat_qty: np.ndarray | float = 0.0,
    unit_price: np.ndarray | float = 0.0,
    surcharge: np.ndarray | None = None,
    est: np.ndarray | None = None,
    base: np.ndarray | None = None,
) -> Frame:
    n = len(person)

    def full(x: np.ndarray | float | int, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype), (n,)).copy()

    paid_a = np.round(full(paid, np.float64), 2)
    key = key_for_events(chunk.rng, chunk.ident, chunk.persons, person, day)
    pre_a = full(-1, np.int64) if pre is None else np.asarray(pre, np.int64)
    pre_day = np.where(pre_a >= 0, day - chunk.rng.integers(0, 21, n), -1)
    return Frame(
        person=person.astype(np.int64),
        key=key.astype(np.int64),
        day=day.astype(np.int64),
        day_end=day.astype(np.int64),
        nat=full(nat, np.int64),
        qty=full(qty, np.float64),
        coef=full(coef, np.float64),
        paid=paid_a,
        base=paid_a if base is None else np.round(np.asarray(base, np.float64), 2),
        rate=full(rate, np.float64),
        exe=np.asarray(exe, np.int64),
        pre=pre_a,
        pre_day=pre_day.astype(np.int64),
        est=full(-1, np.int64) if est is None else np.asarray(est, np.int64),
        taa=full(-1, np.int64),
        ghs=full(-1, np.int64),
        dpn=full(0, np.int64),
        surcharge=np.zeros(n, bool) if surcharge is None else np.asarray(surcharge, bool),
        sat=full(sat, np.int64),
        code=full(0, np.int64) if code is None else np.asarray(code, np.int64),
        sat_qty=full(sat_qty, np.float64),
        unit_price=np.round(full(unit_price, np.float64), 2),
        category=full(CATEGORIES[category], np.int64),
        rnv=full(0, np.int64),
        event=chunk.new_ids("event", n),
    )


def care_window(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """First and last day of care of each person: from max(study start, birth or arrival day)
    to min(death, study end)."""
    return chunk.care_start, chunk.alive_end
