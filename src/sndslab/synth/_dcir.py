"""Projection of outpatient claim lines onto the DCIR tables (ER_PRS_F and its satellites).

Input: a ``Frame`` of *claim lines*, one per reimbursed item, built by the care steps
(``CLAIM_COLUMNS``). This module groups them into décomptes, gives them the DCIR 9-column key
and flow dates with the real lag after care, injects the documented DCIR artefacts, and writes
ER_PRS_F, ER_PHA_F, ER_CAM_F, ER_BIO_F, ER_UCD_F and ER_ETE_F, one file per table and flow year.

Artefacts injected here (each counted in the truth manifest):
- surcharge/complement lines (CPL_MAJ_TOP = 2) next to some visits;
- information-only lines DPN_QLF = PRS_DPN_QLP = 71 (built by the hospital step);
- regularisations: a later line identical but negative (BSE_REM_SGN = 2, negative quantities),
  half of them followed by a corrected re-issue;
- late flows (FLX_DIS_DTD after June of the year after the care: the claim was processed late,
  ``_quality.flow_lag_months``), invalid care dates,
- complement lines without base nature (BSE_PRS_NAT = 0) or with CPL_AFF_COD = 16, information
  lines of retroceded drugs (DPN_QLF = 72, built before: ``_quality.ucd_information_lines``),
- orphan satellite rows: with probability ``orphan_satellite_rate`` a line carrying a
  satellite (never a regularised line, its cancellation or re-issue) is left out of ER_PRS_F
  while its satellite row and ER_ETE_F row are written (``dcir.orphan_satellite_rows``, and
  per table ``dcir.orphan_satellite_rows.<TABLE>``).

Line counts in the truth (``dcir.*_lines``, ``dcir.lines.*``) are counts of lines written to
ER_PRS_F: a left-out line is not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from sndslab.registry import DCIR_JOIN_KEYS
from sndslab.synth._context import Chunk
from sndslab.synth._frame import Frame
from sndslab.synth._geography import residence_at
from sndslab.synth._ids import add_months, digits, rank_within, to_date32, year_of
from sndslab.synth._numbering import dcir_line_order, numbering_of
from sndslab.synth._quality import (
    CPL_AFF_COD_EXCLUDED,
    complement_artefacts,
    flow_lag_months,
    netting_matches,
    outside_flow_window,
)

#: Satellite kinds of a claim line.
SAT_NONE, SAT_PHA, SAT_CAM, SAT_BIO, SAT_UCD = range(5)
SATELLITE_TABLE = {
    SAT_PHA: "ER_PHA_F",
    SAT_CAM: "ER_CAM_F",
    SAT_BIO: "ER_BIO_F",
    SAT_UCD: "ER_UCD_F",
}
DCIR_KEYS = list(DCIR_JOIN_KEYS)

#: Columns of the claim-line frame produced by the care steps.
CLAIM_COLUMNS = (
    "person",  # int64 index in the chunk
    "key",  # int64 row in chunk.ident (the billed pseudonymous key)
    "day",  # int64 care start (EXE_SOI_DTD)
    "day_end",  # int64 care end (EXE_SOI_DTF)
    "nat",  # int64 PRS_NAT_REF
    "qty",  # float64 PRS_ACT_QTE
    "coef",  # float64 PRS_ACT_COG
    "paid",  # float64 PRS_PAI_MNT
    "base",  # float64 BSE_REM_BSE
    "rate",  # float64 RGO_REM_TAU (percent)
    "exe",  # int64 executing practitioner index or -1
    "pre",  # int64 prescriber index or -1
    "pre_day",  # int64 prescription day or -1
    "est",  # int64 establishment index or -1
    "taa",  # int64 ETE_IND_TAA (-1 = null)
    "ghs",  # int64 ETE_GHS_NUM (-1 = null)
    "dpn",  # int64 DPN_QLF (0 = null)
    "surcharge",  # bool: a complement line must be added
    "sat",  # int64 satellite kind
    "code",  # int64 index of the satellite code in its referential
    "sat_qty",  # float64 satellite quantity (boxes, units, …)
    "unit_price",  # float64 satellite unit price
    "category",  # int64 event category (truth)
    "rnv",  # int64 PHA_SEQ_RNV renewal sequence of a dispensing (0 otherwise)
    "event",  # int64 event id (truth)
)

SURCHARGE_NAT = 1116  # MPC, a complement billed with the visit
#: DPN_QLF (IR_DEP_V) of an extra fee over the tariff: 61 "DA", dépassement autorisé.
DPN_EXTRA_FEE = 61
#: Event categories of establishment lines (``_care.CATEGORIES``) and the ATU nature.
CATEGORY_PRIVATE_STAY, CATEGORY_PUBLIC_STAY = 9, 10
NAT_ATU = 2238
SURCHARGE_AMOUNT = 5.0
FUND_SUFFIX = "0000"


def empty_claims() -> Frame:
    return Frame(
        **{
            c: np.zeros(
                0,
                bool
                if c == "surcharge"
                else (
                    np.float64
                    if c in ("qty", "coef", "paid", "base", "rate", "sat_qty", "unit_price")
                    else np.int64
                ),
            )
            for c in CLAIM_COLUMNS
        }
    )


def _flow_lag_months(
    rng: np.random.Generator, care_day: np.ndarray, late_share: float
) -> np.ndarray:
    """Months between the care month and the flow month (see ``_quality.flow_lag_months``)."""
    return flow_lag_months(rng, care_day, late_share)


def project_dcir(chunk: Chunk, lines: Frame, writer: Any, truth: Any) -> None:
    """Turn claim lines into DCIR rows and write them (one file per table and flow year)."""
    rng = chunk.rng
    art = chunk.config.artefacts
    if len(lines) == 0:
        return
    # Every output line is a copy of an input line: the line itself, its surcharge line, its
    # cancellation, its re-issue. Build the source index first and gather each column once.
    n0 = len(lines)
    sur = np.flatnonzero(lines["surcharge"])
    eligible = np.flatnonzero(lines["dpn"] == 0)
    chosen = eligible[rng.random(len(eligible)) < art.regularisation_rate]
    reissued = chosen[rng.random(len(chosen)) < 0.5]
    m = (n0, len(sur), len(chosen), len(reissued))
    src = np.concatenate([np.arange(n0), sur, chosen, reissued])
    is_cpl = np.repeat(np.array([False, True, False, False]), m)
    line_kind = np.repeat(np.array([0, 0, 1, 2]), m)  # 0 normal, 1 cancellation, 2 re-issue
    sign = np.repeat(np.array([1, 1, -1, 1]), m)
    extra_delay = np.concatenate(
        [np.zeros(m[0] + m[1], np.int64), rng.integers(1, 4, m[2]), rng.integers(2, 5, m[3])]
    )
    factor = np.concatenate([np.ones(m[0] + m[1] + m[2]), rng.uniform(0.85, 0.98, m[3])])
    truth.count("dcir.regularisation_cancellations", len(chosen))
    truth.count("dcir.regularisation_reissues", len(reissued))
    order = np.lexsort(
        (line_kind, lines["est"][src], lines["exe"][src], lines["day"][src], lines["person"][src])
    )
    final = src[order]
    lines = Frame(**{c: v[final] for c, v in lines.items()})
    regularised = np.isin(final, chosen)  # originals whose cancellation follows
    is_cpl, line_kind, sign = is_cpl[order], line_kind[order], sign[order]
    extra_delay, factor = extra_delay[order], factor[order]
    base_nat = lines["nat"].copy()
    lines["nat"] = np.where(is_cpl, SURCHARGE_NAT, lines["nat"])
    lines["qty"] = np.where(is_cpl, 1.0, lines["qty"])
    lines["coef"] = np.where(is_cpl, 1.0, lines["coef"])
    lines["paid"] = np.where(is_cpl, SURCHARGE_AMOUNT, np.round(lines["paid"] * factor, 2))
    lines["base"] = np.where(is_cpl, SURCHARGE_AMOUNT, np.round(lines["base"] * factor, 2))
    lines["sat"] = np.where(is_cpl, SAT_NONE, lines["sat"])
    lines["category"] = np.where(is_cpl, -1, lines["category"])  # not a care event of its own
    lines["cpl_maj"] = np.where(is_cpl, 2, 0)
    lines["base_nat"] = base_nat
    n = len(lines)

    # -- décomptes: lines of one person, day, executor, establishment, kind ---
    group_cols = [
        lines["person"],
        lines["day"],
        lines["exe"],
        lines["est"],
        line_kind,
        lines["dpn"],
    ]
    new_group = np.r_[True, np.any([c[1:] != c[:-1] for c in group_cols], axis=0)]
    # a cancellation/re-issue is its own décompte
    new_group |= line_kind != 0
    dct_local = np.cumsum(new_group) - 1
    n_dct = int(dct_local[-1]) + 1
    prs_ord = rank_within(dct_local) + 1

    # -- flows ---
    first_of_group = np.flatnonzero(new_group)
    lag = _flow_lag_months(rng, lines["day"][first_of_group], art.late_flow_share)
    lag = lag + extra_delay[first_of_group]
    flx_dis = add_months(lines["day"][first_of_group], lag)
    flx_trt = _processing_day(rng, lines["day"][first_of_group], flx_dis)
    emt_num = rng.integers(1, 40, n_dct)
    emt_ord = rng.integers(1, 9999, n_dct)
    emt_typ = rng.choice(np.array([1, 2, 3, 5]), n_dct, p=[0.55, 0.25, 0.15, 0.05])
    g = dct_local
    # DCT_ORD_NUM: per paying organism and flow, random order in the flow (_numbering)
    fund = np.array([f"01{d}{FUND_SUFFIX}" for d in chunk.world.territories.snds_dpt], object)
    line_dep = chunk.persons.dep[lines["person"]]
    dct_ids = numbering_of(chunk).dct(fund, flx_dis, index=line_dep[first_of_group])
    # rows in flow, organism, décompte, line order (so each yearly file is a slice)
    fund_rank = np.argsort(np.argsort(fund.astype(str), kind="stable"))
    by_year = dcir_line_order(flx_dis[g], fund_rank[line_dep], dct_ids[g], prs_ord)
    lines = Frame(**{c: v[by_year] for c, v in lines.items()})
    g, prs_ord, sign, line_kind = g[by_year], prs_ord[by_year], sign[by_year], line_kind[by_year]
    is_cpl, regularised = is_cpl[by_year], regularised[by_year]
    persons = chunk.persons
    person = lines["person"]
    dep = persons.dep[person]
    res_dep, res_com = residence_at(chunk, person, lines["day"])  # residence on the care day
    snds_dpt = chunk.world.territories.snds_dpt

    # -- invalid care dates -----------------------------------------------------------------------
    care = lines["day"].copy()
    care_missing = np.zeros(n, bool)
    bad = rng.random(n) < art.invalid_date_rate
    half = rng.random(n) < 0.5
    care_missing[bad & half] = True
    care[bad & ~half] = flx_dis[g][bad & ~half] + rng.integers(40, 400, (bad & ~half).sum())

    ident = chunk.ident
    key = lines["key"]
    prac = chunk.world.practitioners
    exe = lines["exe"]
    pre = lines["pre"]
    has_exe = exe >= 0
    has_pre = pre >= 0
    age = persons.age_of(person, lines["day"])
    infant = age < 2
    ama = np.where(infant, np.floor((lines["day"] - persons.birth[person]) / 30.44), age)
    qty = lines["qty"] * sign
    paid = np.round(lines["paid"] * sign, 2)
    base = np.round(lines["base"], 2)
    reimb = np.round(base * lines["rate"] / 100.0 * sign, 2)
    fict = ident.pid[key] < 0
    birth_year = np.where(fict, 1955, year_of(persons.birth[person]))
    fund_a = pa.array([f"01{d}{FUND_SUFFIX}" for d in snds_dpt], pa.string())
    prac_num = pa.array(prac.num).cast(pa.string())
    keys = {
        "DCT_ORD_NUM": gather(digits(dct_ids, 12), g),
        "FLX_DIS_DTD": to_date32(flx_dis[g]),
        "FLX_EMT_NUM": gather(digits(emt_num, 2), g),
        "FLX_EMT_ORD": gather(digits(emt_ord, 4), g),
        "FLX_EMT_TYP": gather(digits(emt_typ, 1), g),
        "FLX_TRT_DTD": to_date32(flx_trt[g]),
        "ORG_CLE_NUM": gather(fund_a, dep),
        "PRS_ORD_NUM": digits(prs_ord, 3),
        "REM_TYP_AFF": pa.array(np.full(n, "1", dtype=object), pa.string()),
    }
    # extra fees over the tariff (dépassements of sector-2 practitioners) carry their qualifier
    extra_fee = ~is_cpl & (lines["dpn"] == 0) & (lines["paid"] > lines["base"] + 0.005)
    dpn = np.where(extra_fee, DPN_EXTRA_FEE, lines["dpn"])
    exe_safe = np.where(has_exe, exe, 0)
    pre_safe = np.where(has_pre, pre, 0)

    def opt_int(values: np.ndarray, mask: np.ndarray) -> pa.Array:
        return pa.array(np.asarray(values, np.int64), pa.int64(), mask=~mask)

    prs = {
        **keys,
        "BEN_NIR_PSA": gather(pa.array(ident.psa).cast(pa.string()), key),
        "BEN_RNG_GEM": pa.array(ident.rng_gem[key].astype(np.int64)),
        "BEN_CDI_NIR": gather(pa.array(ident.cdi_nir, pa.string()), key),
        "BEN_SEX_COD": pa.array(persons.sex[person].astype(np.int64)),
        "BEN_NAI_ANN": pa.array(birth_year.astype(np.int64)),
        "BEN_AMA_COD": pa.array(ama.astype(np.int64)),
        "BEN_RES_DPT": gather(pa.array(snds_dpt, pa.string()), res_dep),
        "BEN_RES_COM": gather(pa.array(chunk.world.communes.code, pa.string()), res_com),
        "BEN_CMU_TOP": pa.array(persons.cmu[person].astype(np.int64)),
        "ORG_AFF_BEN": gather(fund_a, dep),
        "RGM_GRG_COD": pa.array(np.full(n, "01", dtype=object), pa.string()),
        "RGM_COD": gather(pa.array(["010", "888"]), fict.astype(np.int64)),
        "EXE_SOI_DTD": to_date32(care, missing=care_missing),
        "EXE_SOI_DTF": to_date32(np.maximum(lines["day_end"], lines["day"])),
        "PRE_PRE_DTD": to_date32(np.maximum(lines["pre_day"], 0), missing=lines["pre_day"] < 0),
        "PRS_NAT_REF": pa.array(lines["nat"]),
        "BSE_PRS_NAT": pa.array(np.where(is_cpl, lines["base_nat"], lines["nat"])),
        "CPL_PRS_NAT": opt_int(lines["nat"], is_cpl),
        "CPL_MAJ_TOP": pa.array(lines["cpl_maj"]),
        "PRS_ACT_QTE": pa.array(qty),
        "PRS_ACT_NBR": pa.array(np.sign(qty).astype(np.int64)),
        "PRS_ACT_COG": pa.array(lines["coef"]),
        "PRS_PAI_MNT": pa.array(paid),
        "BSE_REM_BSE": pa.array(np.where(is_cpl, 0.0, base)),
        "BSE_REM_MNT": pa.array(np.where(is_cpl, 0.0, reimb)),
        "BSE_REM_SGN": pa.array(np.where(sign < 0, 2, 1).astype(np.int64)),
        "CPL_REM_BSE": pa.array(np.where(is_cpl, base, 0.0)),
        "CPL_REM_MNT": pa.array(np.where(is_cpl, reimb, 0.0)),
        "CPL_REM_SGN": pa.array(np.where(is_cpl, np.where(sign < 0, 2, 1), 0).astype(np.int64)),
        "PRS_DEP_MNT": pa.array(np.round(np.maximum(lines["paid"] - lines["base"], 0) * sign, 2)),
        "RGO_REM_TAU": pa.array(lines["rate"]),
        "DPN_QLF": opt_int(dpn, dpn > 0),
        "PRS_DPN_QLP": opt_int(dpn, dpn > 0),
        "PFS_EXE_NUM": gather(prac_num, exe),
        "PSE_SPE_COD": pa.array(np.where(has_exe, prac.specialty[exe_safe], 0).astype(np.int64)),
        "PSE_ACT_NAT": pa.array(np.where(has_exe, prac.act_nat[exe_safe], 0).astype(np.int64)),
        "PSE_CNV_COD": gather(pa.array(prac.sector.astype(str).astype(object), pa.string()), exe),
        "PFS_PRE_NUM": gather(prac_num, pre),
        "PSP_SPE_COD": pa.array(np.where(has_pre, prac.specialty[pre_safe], 0).astype(np.int64)),
        "PSP_ACT_NAT": pa.array(np.where(has_pre, prac.act_nat[pre_safe], 0).astype(np.int64)),
        "PRS_MTT_NUM": gather(prac_num, persons.gp[person]),
        "PRS_PPU_SEC": opt_int(
            np.where(chunk.world.establishments.public[np.maximum(lines["est"], 0)], 1, 2),
            lines["est"] >= 0,
        ),
        "EXO_MTF": opt_int(np.full(n, 41), lines["rate"] >= 100),
    }
    bse_zero, aff16 = complement_artefacts(chunk, is_cpl, truth)
    prs["BSE_PRS_NAT"] = pa.array(np.where(bse_zero, 0, np.asarray(prs["BSE_PRS_NAT"])))
    prs["CPL_AFF_COD"] = pa.array(
        np.where(aff16, CPL_AFF_COD_EXCLUDED, "").astype(object), pa.string(), mask=~aff16
    )
    prs_table = pa.table(prs)

    # -- orphan satellites: leave out some prestation lines that carry a satellite ---
    eligible = (lines["sat"] > 0) & (line_kind == 0) & ~regularised
    orphan = eligible & (rng.random(n) < art.orphan_satellite_rate)
    kept = ~orphan
    for kind, table in SATELLITE_TABLE.items():
        n_kind = int((orphan & (lines["sat"] == kind)).sum())
        truth.count(f"dcir.orphan_satellite_rows.{table}", n_kind)
    with_ete = orphan & (lines["est"] >= 0)
    truth.count("dcir.orphan_satellite_rows.ER_ETE_F", int(with_ete.sum()))
    truth.count("dcir.orphan_satellite_rows", int(orphan.sum() + with_ete.sum()))
    truth.count("dcir.invalid_care_date_lines", int((bad & kept).sum()))
    # late flows, among lines whose care date is valid (an invalid date hides the lag)
    late = outside_flow_window(flx_dis[g], lines["day"])
    truth.count("dcir.late_flow_lines", int((late & ~bad & kept).sum()))
    year = year_of(flx_dis[g])
    _write_split(writer, "ER_PRS_F", prs_table.filter(pa.array(~orphan)), year[~orphan])

    # -- satellites ---
    ref = chunk.ref
    for kind, table in SATELLITE_TABLE.items():
        rows = np.flatnonzero(lines["sat"] == kind)
        if len(rows) == 0:
            continue
        code = lines["code"][rows]
        sat_qty = lines["sat_qty"][rows] * sign[rows]
        cols: dict[str, Any] = {k: v.take(pa.array(rows)) for k, v in keys.items()}
        if kind == SAT_PHA:
            cols |= {
                "PHA_PRS_C13": pa.array(ref.drug_cip13[code], pa.string()),
                "PHA_PRS_IDE": pa.array(ref.drug_cip7[code], pa.string()),
                "PHA_ACT_QSN": pa.array(sat_qty.astype(np.int64)),
                "PHA_ACT_PRU": pa.array(lines["unit_price"][rows]),
                "PHA_ORD_NUM": pa.array(np.ones(len(rows), np.int64)),
                "PHA_SEQ_RNV": pa.array(lines["rnv"][rows]),
            }
        elif kind == SAT_CAM:
            cols |= {
                "CAM_PRS_IDE": pa.array(ref.ccam_codes[code], pa.string()),
                "CAM_ACT_COD": pa.array(np.full(len(rows), "1", dtype=object), pa.string()),
                "CAM_TRT_PHA": pa.array(np.full(len(rows), "0", dtype=object), pa.string()),
                "CAM_ORD_NUM": pa.array(np.ones(len(rows), np.int64)),
                "CAM_REM_BSE": pa.array(np.round(lines["base"][rows], 2)),
                "CAM_ACT_PRU": pa.array(lines["unit_price"][rows]),
            }
        elif kind == SAT_BIO:
            cols |= {
                "BIO_PRS_IDE": pa.array(ref.nabm_codes[code], pa.string()),
                "BIO_ACT_QSN": pa.array(sat_qty.astype(np.int64)),
                "BIO_ORD_NUM": pa.array(np.ones(len(rows), np.int64)),
            }
        else:
            cols |= {
                "UCD_UCD_COD": pa.array(ref.ucd_codes[code], pa.string()),
                "UCD_DLV_NBR": pa.array(sat_qty.astype(np.int64)),
                "UCD_ORD_NUM": pa.array(np.ones(len(rows), np.int64)),
                "UCD_TOP_UCD": pa.array(np.full(len(rows), "1", dtype=object), pa.string()),
                "UCD_FAC_PRU": pa.array(lines["unit_price"][rows]),
            }
        _write_split(writer, table, pa.table(cols), year[rows])

    # -- ER_ETE_F: one row per line performed in an establishment ----------------------------------
    rows = np.flatnonzero(lines["est"] >= 0)
    if len(rows):
        est = chunk.world.establishments
        e = lines["est"][rows]
        cols = {k: v.take(pa.array(rows)) for k, v in keys.items()}
        taa = lines["taa"][rows]
        ghs = lines["ghs"][rows]
        cols |= {
            "ETB_EXE_FIN": pa.array([f[:8] for f in est.finess[e]], pa.string()),
            "ETE_CAT_COD": pa.array(ref.est_category[est.kind[e]], pa.string()),
            "ETE_TYP_COD": pa.array(np.where(est.public[e], "1", "5").astype(object), pa.string()),
            "ETE_IND_TAA": pa.array(taa, pa.int64(), mask=taa < 0),
            "ETE_GHS_NUM": pa.array(ghs.astype(object).astype(str), pa.string(), mask=ghs < 0),
            "PRS_PPU_SEC": pa.array(np.where(est.public[e], 1, 2).astype(np.int64)),
            "MDT_COD": pa.array(_treatment_mode(lines.take(rows)), pa.string()),
        }
        _write_split(writer, "ER_ETE_F", pa.table(cols), year[rows])

    truth.count_lines("dcir", lines["category"][(line_kind == 0) & kept])
    truth.count("dcir.surcharge_lines", int((is_cpl & kept).sum()))
    truth.count("dcir.dpn_qlf_71_lines", int(((lines["dpn"] == 71) & kept).sum()))
    truth.count("dcir.dpn_qlf_72_lines", int(((lines["dpn"] == 72) & kept).sum()))
    psa_code = np.unique(ident.psa, return_inverse=True)[1].ravel()[key]  # BEN_NIR_PSA
    net_keys = [psa_code, ident.rng_gem[key], np.where(care_missing, -1, care)]
    net_keys += [lines["nat"], exe, np.abs(paid), np.where(is_cpl, 0.0, base)]
    net_keys += [lines["sat"] * 10**9 + np.where(lines["sat"] > 0, lines["code"], 0)]
    net = netting_matches([k[kept] for k in net_keys], qty[kept])
    truth.count("dcir.regularisation_netted_lines", net)
    truth.count("dcir.dpn_qlf_extra_fee_lines", int((extra_fee & kept).sum()))
    # pharmacy lines at 100 % by an ALD exemption (not PH1 drugs), positive lines written
    ald_exempt = (lines["sat"] == SAT_PHA) & (lines["rate"] >= 100) & (lines["nat"] != 3311)
    truth.count("dcir.ald_exempt_pharmacy_lines", int((ald_exempt & (sign > 0) & kept).sum()))
    truth.count("dcir.ete_ind_taa_lines", int(((lines["taa"] == 1) & kept).sum()))
    truth.count("dcir.fictitious_nir_lines", int((fict & kept).sum()))
    truth.count("dcir.prs_rows", int(kept.sum()))


def _processing_day(rng: np.random.Generator, care: np.ndarray, flx_dis: np.ndarray) -> np.ndarray:
    """FLX_TRT_DTD: processing day, between the care day and the day before the flow date
    (within the 30 days before the flow), never before the care."""
    hi = np.maximum(flx_dis - 1, care)
    lo = np.minimum(np.maximum(care, flx_dis - 30), hi)
    return lo + np.floor(rng.random(len(care)) * (hi - lo + 1)).astype(np.int64)


def _treatment_mode(lines: Frame) -> np.ndarray:
    """ER_ETE_F.MDT_COD (IR_MDT_V) from the care setting of each establishment line.

    Stay billing: 3 (full hospitalisation) or 4 (day hospitalisation, no night); emergency
    (ATU) external care: 10; other external consultations and hospital drugs dispensed to
    outpatients (rétrocession): 7.
    """
    cat = lines["category"]
    stay = (cat == CATEGORY_PRIVATE_STAY) | (cat == CATEGORY_PUBLIC_STAY)
    night = lines["day_end"] > lines["day"]
    mode = np.where(stay, np.where(night, "3", "4"), np.where(lines["nat"] == NAT_ATU, "10", "7"))
    return mode.astype(object)


def gather(values: pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]`` as Arrow; negative indices give nulls."""
    index = np.asarray(index, np.int64)
    missing = index < 0
    idx = pa.array(index, mask=missing) if missing.any() else pa.array(index)
    return values.take(idx)


def _write_split(writer: Any, table: str, data: pa.Table, year: np.ndarray) -> None:
    """Write ``data`` into one file per flow year (cast to the registry types)."""
    from sndslab.synth._tables import emit_by_year

    emit_by_year(writer, table, year, {name: data.column(name) for name in data.column_names})
