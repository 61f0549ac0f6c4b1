"""Claim-processing realism and the artefacts behind the standard ingest filters.

- **Flow lag** (:func:`flow_lag_months`): FLX_DIS_DTD is the first day of the month after the
  claim was processed. The processing delay is drawn per décompte: electronic claims
  (SESAM-Vitale, ≈ 85 %) are processed within days (log-normal, median 4 days), paper claims
  within weeks (median 25 days), and ``late_flow_share`` of claims months later (rights
  regularised after the care, disputes, late hospital invoices: log-uniform 3–24 months). The
  ingest window (flows from January N to June N+1 for care year N) is not used to draw the lag;
  :func:`outside_flow_window` only counts, for the truth, the lines it leaves out.
- **Regularisation netting truth** (:func:`netting_matches`): the lines the netting rule
  (``dcir_regularisation_netting``) must exclude: every negative line and, per group of
  identical lines, as many positive lines as there are negative ones.
- Artefacts of the standard filters, each counted in the truth manifest, drawn on the chunk's
  artefact stream (changing their rates leaves the rest of the extract unchanged):
  complement lines without a base nature (``BSE_PRS_NAT = 0``, SCALPEL-Extraction
  ``DcirSource.sanitize``) and with the refined complement code ``CPL_AFF_COD = 16``
  (sndsTools ``extract_consultations_erprsf.R``); information lines of retroceded drugs
  (``DPN_QLF = PRS_DPN_QLP = 72``, sndsTools UCD extraction); PMSI MCO records with a
  placeholder NIR_ANO_17 (``xxxxxxxxxxxxxxxxx``, ``XXXXXXXXXXXXXXXXD``,
  Documentation-SNDS ``fiches/fiche_beneficiaire.md``), a non-billed GHS (``GHS_NUM = 9999``)
  or the abortion GHM ``14Z08Z`` (SCALPEL-Extraction ``McoSource.sanitize``); IR_IMB_R rows
  without a start date (``IMB_ALD_DTD`` empty, SCALPEL-Extraction ``ImbSource``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from sndslab.synth._frame import Frame
from sndslab.synth._ids import civil_from_days, day_of, year_of

#: Placeholder NIR_ANO_17 values of PMSI records whose NIR could not be pseudonymised.
PLACEHOLDER_NIR = ("xxxxxxxxxxxxxxxxx", "XXXXXXXXXXXXXXXXD")
#: GHS number of stays that are not billed, and the GHM of abortions (IVG).
GHS_NOT_BILLED = 9999
GHM_ABORTION = "14Z08Z"
ABORTION_DP = "O049"
#: Expense qualifier of information lines of retroceded drugs ("PI/TJ", IR_DEP_V).
DPN_QLF_UCD_INFORMATION = 72
#: Refined complement code excluded by sndsTools when counting consultations (IR_CCA_V).
CPL_AFF_COD_EXCLUDED = "16"


#: Stream numbers of :func:`stream` (one per artefact, so each is independent of the others).
STREAMS = {"complement": 1, "ucd_information": 2, "mco": 3, "imb": 4}


def stream(chunk: Any, name: str) -> np.random.Generator:
    """A random stream of its own for artefact ``name`` of ``chunk`` (seeded by the run seed,
    the chunk and the artefact), so these artefacts change no other draw of the extract."""
    seed = getattr(chunk.config, "seed", 0)  # minimal chunks of unit tests have no seed
    return np.random.default_rng([seed, 7, getattr(chunk, "index", 0), STREAMS[name]])


def _rate(chunk: Any, name: str) -> float:
    """Artefact rate ``name`` of the chunk's configuration (0 when a minimal configuration of a
    unit test does not define it: the artefact is off)."""
    return float(getattr(chunk.config.artefacts, name, 0.0))


# ----------------------------------------------------------------------------- flows
def flow_lag_months(
    rng: np.random.Generator, care_day: np.ndarray, late_share: float
) -> np.ndarray:
    """Months between the care month and the flow month (≥ 1) of claims cared on
    ``care_day``: the flow is the month after the processing date (see the module docstring)."""
    n = len(care_day)
    paper = rng.random(n) < 0.15
    delay = np.where(paper, rng.lognormal(np.log(25.0), 0.9, n), rng.lognormal(np.log(4.0), 0.8, n))
    late = rng.random(n) < late_share
    delay = np.where(late, np.exp(rng.uniform(np.log(90.0), np.log(720.0), n)), delay)
    processed = care_day + np.floor(delay).astype(np.int64)
    return _month_index(processed) - _month_index(care_day) + 1


def _month_index(day: np.ndarray) -> np.ndarray:
    y, m, _ = civil_from_days(np.asarray(day, np.int64))
    return y.astype(np.int64) * 12 + m.astype(np.int64)


def outside_flow_window(
    flow_day: np.ndarray, care_day: np.ndarray, last_month: int = 6
) -> np.ndarray:
    """Lines whose flow comes after month ``last_month`` of the year following the care year
    (the standard DCIR window of a care year N: flows January N – June N+1)."""
    year = year_of(np.asarray(care_day, np.int64))
    limit = np.array([day_of(int(y) + 1, last_month, 1) for y in np.unique(year)], np.int64)
    return flow_day > limit[np.searchsorted(np.unique(year), year)]


# ----------------------------------------------------------------------------- netting
def netting_matches(keys: list[np.ndarray], qty: np.ndarray) -> int:
    """Rows the netting rule excludes, on the written ER_PRS_F rows: ``keys`` are the
    grouping columns (one array each, equal values = same group), ``qty`` the signed
    quantity. Per group: every negative row, and as many positive rows as negative ones (the
    cancelled originals; identical lines have the same quantity), rows of zero quantity when
    the group nets to ≤ 0."""
    if len(qty) == 0:
        return 0
    order = np.lexsort([np.asarray(k) for k in keys])
    new = np.zeros(len(qty), bool)
    new[0] = True
    for k in keys:
        sk = np.asarray(k)[order]
        new[1:] |= sk[1:] != sk[:-1]
    group = np.empty(len(qty), np.int64)
    group[order] = np.cumsum(new) - 1
    n_groups = int(new.sum())
    neg = np.bincount(group, weights=(qty < 0).astype(float), minlength=n_groups)
    pos = np.bincount(group, weights=(qty > 0).astype(float), minlength=n_groups)
    net = np.bincount(group, weights=qty, minlength=n_groups)
    zero = np.bincount(group, weights=(qty == 0).astype(float), minlength=n_groups)
    return int(neg.sum() + np.minimum(neg, pos).sum() + zero[net <= 0].sum())


# ----------------------------------------------------------------------------- DCIR artefacts
def complement_artefacts(
    chunk: Any, is_cpl: np.ndarray, truth: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the complement lines written without a base nature (BSE_PRS_NAT = 0) and of
    those with CPL_AFF_COD = 16 (disjoint), counted as ``dcir.bse_prs_nat_zero_lines`` and
    ``dcir.cpl_aff_cod_16_lines``."""
    rng = stream(chunk, "complement")
    u = rng.random(len(is_cpl))
    zero = is_cpl & (u < _rate(chunk, "bse_prs_nat_zero_share"))
    aff16 = is_cpl & ~zero & (rng.random(len(is_cpl)) < _rate(chunk, "cpl_aff_cod_16_share"))
    truth.count("dcir.bse_prs_nat_zero_lines", int(zero.sum()))
    truth.count("dcir.cpl_aff_cod_16_lines", int(aff16.sum()))
    return zero, aff16


def ucd_information_lines(chunk: Any, lines: Frame) -> Frame:
    """Information copies (DPN_QLF = PRS_DPN_QLP = 72, no care event of their own) of a
    share ``dpn_qlf_72_share`` of the retroceded-drug claim lines (satellite ER_UCD_F) of
    ``lines`` (counted by ``project_dcir`` as ``dcir.dpn_qlf_72_lines``)."""
    from sndslab.synth._dcir import SAT_UCD

    rng = stream(chunk, "ucd_information")
    share = _rate(chunk, "dpn_qlf_72_share")
    ucd = np.flatnonzero((lines["sat"] == SAT_UCD) & (lines["dpn"] == 0))
    pick = ucd[rng.random(len(ucd)) < share]
    copies = lines.take(pick)
    return copies.with_columns(
        dpn=np.full(len(pick), DPN_QLF_UCD_INFORMATION, np.int64),
        category=np.full(len(pick), -1, np.int64),
        surcharge=np.zeros(len(pick), bool),
    )


# ----------------------------------------------------------------------------- PMSI artefacts
def mco_quality_masks(
    chunk: Any,
    person: np.ndarray,
    entry: np.ndarray,
    los: np.ndarray,
    session: np.ndarray,
    eligible: np.ndarray,
    dp: np.ndarray,
) -> np.ndarray:
    """Disjoint masks ``[placeholder NIR, GHS 9999, GHM 14Z08Z]`` over the written MCO
    records of ``person`` (``eligible``: records without another artefact). Abortions are
    records of women aged 15–49 of at most one night (not sessions, not injuries: ``dp``
    starting with S or T, whose fracture stays are the falls truth's outcome)."""
    rng = stream(chunk, "mco")
    n = len(eligible)
    placeholder = eligible & (rng.random(n) < _rate(chunk, "placeholder_nir_rate"))
    ghs = eligible & ~placeholder & (rng.random(n) < _rate(chunk, "ghs_not_billed_rate"))
    persons = chunk.persons
    age = persons.age_of(person, entry)
    woman = (persons.sex[person] == 2) & (age >= 15) & (age <= 49)
    first = np.asarray(dp).astype("U1")
    ivg = eligible & ~placeholder & ~ghs & woman & (los <= 1) & ~session
    ivg &= (first != "S") & (first != "T")
    ivg &= rng.random(n) < _rate(chunk, "abortion_ghm_rate")
    return np.stack([placeholder, ghs, ivg])


def apply_mco_artefacts(chunk: Any, b: dict[str, pa.Array], masks: np.ndarray, truth: Any) -> None:
    """Write the GHS 9999 and 14Z08Z artefacts into the T_MCOaaB columns ``b`` (in place) and
    count the three MCO artefacts: ``pmsi.mco.placeholder_nir``, ``pmsi.mco.ghs_9999``,
    ``pmsi.mco.ghm_14z08z``."""
    placeholder, ghs, ivg = masks
    if ghs.any():
        b["GHS_NUM"] = _replace(b["GHS_NUM"], ghs, np.full(len(ghs), GHS_NOT_BILLED, np.int64))
    if ivg.any():
        b["GRG_GHM"] = _replace(b["GRG_GHM"], ivg, np.full(len(ivg), GHM_ABORTION, object))
        b["DGN_PAL"] = _replace(b["DGN_PAL"], ivg, np.full(len(ivg), ABORTION_DP, object))
    truth.count("pmsi.mco.placeholder_nir", int(placeholder.sum()))
    truth.count("pmsi.mco.ghs_9999", int(ghs.sum()))
    truth.count("pmsi.mco.ghm_14z08z", int(ivg.sum()))


def apply_placeholder_nir(chunk: Any, c: dict[str, pa.Array], masks: np.ndarray) -> None:
    """Replace NIR_ANO_17 of the T_MCOaaC columns ``c`` by a placeholder (in place)."""
    placeholder = masks[0]
    if placeholder.any():
        rng = np.random.default_rng(
            [getattr(chunk.config, "seed", 0), 7, getattr(chunk, "index", 0), 99]
        )
        values = np.array(PLACEHOLDER_NIR, dtype=object)[rng.integers(0, 2, len(placeholder))]
        c["NIR_ANO_17"] = _replace(c["NIR_ANO_17"], placeholder, values)


def _replace(column: pa.Array, mask: np.ndarray, values: np.ndarray) -> pa.Array:
    """``column`` with ``values[mask]`` at the masked rows (same Arrow type)."""
    import pyarrow.compute as pc

    new = pa.array(values, type=column.type) if column.type != pa.null() else pa.array(values)
    return pc.if_else(pa.array(mask), new, column)


# ----------------------------------------------------------------------------- IR_IMB_R
def imb_missing_start(chunk: Any, ald: Frame) -> np.ndarray:
    """Rows of IR_IMB_R (long-term diseases with an end date, not occupational) written
    without IMB_ALD_DTD, with probability ``imb_missing_start_rate``."""
    rng = stream(chunk, "imb")
    rate = _rate(chunk, "imb_missing_start_rate")
    eligible = (ald["cond"] >= 0) & (ald["end"] != day_of(1600, 1, 1))
    return eligible & (rng.random(len(ald)) < rate)
