"""Falls with injury among persons aged 65+: the pharmacovigilance truth.

Persons aged 65+ fall at a baseline rate; each dispensing of a drug with an injected effect adds
an excess rate ``base × (IRR − 1)`` during its risk window ``[day + lag_start, day + lag_end]``.
With non-overlapping exposures this is exactly a multiplicative relative incidence ``IRR`` during
the window, which is what SCCS estimates.
"""

from __future__ import annotations

import numpy as np

from sndslab.synth._care import care_window, poisson_days
from sndslab.synth._context import Chunk
from sndslab.synth._frame import Frame


def falls(chunk: Chunk, exposures: Frame) -> Frame:
    """Falls with injury among persons aged 65+, with the injected drug effects (truth).

    Returns one row per fall: ``person``, ``day``, ``cause`` (ATC index of the drug whose
    excess risk produced it, -1 for a baseline fall) and ``channel`` (0 seen by the GP only,
    1 emergency department without admission, 2 hospitalised).
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start, end = care_window(chunk)
    age0 = persons.age_at(chunk.study_start)
    base = ref.fall.rate(age0, persons.sex == 2)
    parent, day = poisson_days(rng, base, start, end)
    rows = [Frame(person=parent, day=day, cause=np.full(len(parent), -1, np.int64))]
    eff = ref.fall_effects  # ATC index → (irr, lag_start, lag_end)
    if len(exposures) and eff:
        is_eff = np.isin(exposures["atc"], np.fromiter(eff, np.int64))
        ex = exposures.filter(is_eff & (base[exposures["person"]] > 0))
        order = np.lexsort((ex["day"], ex["atc"], ex["person"]))
        ex = ex.take(order)
        params = np.array([eff[int(a)] for a in ex["atc"]]).reshape(-1, 3)
        irr = params[:, 0]
        w0 = ex["day"] + params[:, 1].astype(np.int64)
        w1 = np.minimum(ex["day"] + params[:, 2].astype(np.int64), end[ex["person"]])
        # trim each window before the next window of the same drug and person (no overlap)
        same_next = np.r_[
            (ex["person"][1:] == ex["person"][:-1]) & (ex["atc"][1:] == ex["atc"][:-1]), False
        ]
        next_w0 = np.r_[w0[1:], 0]
        w1 = np.where(same_next, np.minimum(w1, next_w0 - 1), w1)
        rate = base[ex["person"]] * (irr - 1.0)
        p, d = poisson_days(rng, rate, w0, w1)
        rows.append(Frame(person=ex["person"][p], day=d, cause=ex["atc"][p]))
        chunk.truth_windows = Frame(person=ex["person"], atc=ex["atc"], start=w0, end=w1)
    out = Frame.concat(rows)
    u = rng.random(len(out))
    fall = ref.fall
    channel = np.where(
        u < fall.share_hospitalised,
        2,
        np.where(u < fall.share_hospitalised + fall.share_emergency_only, 1, 0),
    )
    return out.with_columns(channel=channel.astype(np.int64))
