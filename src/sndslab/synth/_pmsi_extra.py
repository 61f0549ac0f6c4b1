"""PMSI artefacts added on top of the projection (``_pmsi``), drawn on the chunk's artefact
stream (:attr:`sndslab.synth._context.Chunk.artefact_rng`) so they leave every other draw
unchanged.

Inter-establishment services (*prestations inter-établissements*, PIE; ATIH coding, see
``snds-data-model.md`` §1.2 and the SEJ_TYP nomenclature MS_SEJ_V: A = requesting
establishment, B = providing establishment). During an MCO stay of one night or more
(``inter_establishment_rate``), the patient is sent for a day to another MCO establishment of
the region for an act or a session and comes back. The provider sends an **extra record** (one
T_MCOaaB row with ENT_MOD = SOR_MOD = '0' and SEJ_TYP = 'B', its T_MCOaaC and T_MCOaaUM rows),
dated inside the requesting stay; the requesting stay itself is **modified** only by
SEJ_TYP = 'A'. A share ``inter_establishment_session_share`` of those records are CMD 28
sessions, whose GHM follows the requesting stay's main diagnosis (chemotherapy or radiotherapy
for cancers, haemodialysis for kidney failure, otherwise transfusion, apheresis or hyperbaric
oxygen); the others are a one-day record of the requesting stay's GHM root (level T, or A
in CMD 14–15).
Counted in the truth as ``pmsi.mco.inter_establishment`` (every provider record),
``pmsi.mco.sej_typ_b`` (those the SCALPEL SEJ_TYP = 'B' rule excludes: not in CMD 28, or
28Z14Z/28Z15Z/28Z16Z), ``pmsi.mco.sej_typ_b_sessions`` (CMD 28 sessions that rule keeps) and
``pmsi.mco.sej_typ_a`` (requesting records written, geographic duplicates included).

Automatically generated RSAs (TYP_GEN_RSA 1–3 instead of 0; the variable exists from 2015):
``typ_gen_rsa_rate`` of the MCO and RIM-P records of 2015 or later that carry no other PMSI
artefact (no return-code error, no error GHM, not a geographic duplicate) are modified
(``pmsi.mco.typ_gen_rsa``, ``pmsi.rip.typ_gen_rsa``).

The truth table ``pmsi_links`` has one row per written PMSI record (stay, stay of the
provider, ACE bill; geographic duplicates included): product, ETA_NUM (ETA_NUM_EPMSI in HAD
and RIM-P), record number, year of the file, NIR_ANO_17 and the person it belongs to, so that
identity linkage of PMSI records can be scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from sndslab.synth._arrays import const_array as _const
from sndslab.synth._arrays import int_array as _i
from sndslab.synth._arrays import str_array as _s
from sndslab.synth._arrays import text_array as _text
from sndslab.synth._frame import Frame
from sndslab.synth._hospital import ghm_suffix
from sndslab.synth._ids import civil_from_days, digits, to_date32
from sndslab.synth._numbering import numbering_of
from sndslab.synth._world import CH, CHU, CLINIC

#: Session GHM of the providing establishment → (main diagnosis, label for XX_GHM_R).
SESSION_GHM: dict[str, tuple[str, str]] = {
    "28Z04Z": ("Z491", "Hémodialyse, en séances"),
    "28Z07Z": ("Z511", "Chimiothérapie pour tumeur, en séances"),
    "28Z11Z": ("Z510", "Radiothérapie, en séances"),
    "28Z14Z": ("Z513", "Transfusions, en séances"),
    "28Z15Z": ("Z518", "Oxygénothérapie hyperbare, en séances"),
    "28Z16Z": ("Z518", "Aphérèses sanguines, en séances"),
}
#: CMD 28 GHM that the SEJ_TYP = 'B' rule excludes like any other B record (SCALPEL).
SEJ_TYP_B_EXCLUDED_SESSIONS = ("28Z14Z", "28Z15Z", "28Z16Z")
#: First year of the TYP_GEN_RSA variable.
TYP_GEN_RSA_FIRST_YEAR = 2015


def other_mco_establishment(
    rng: np.random.Generator, chunk: Any, requester: np.ndarray
) -> np.ndarray:
    """Another MCO establishment (CHU, CH or clinic) of the requester's region (-1: none)."""
    est = chunk.world.establishments
    mco = np.flatnonzero(np.isin(np.asarray(est.kind), (CHU, CH, CLINIC)))
    region = _text(np.asarray(est.region))
    order = np.lexsort((mco, region[mco].astype(str)))
    cand = mco[order]
    cand_region = region[cand].astype(str)
    regions, start, count = np.unique(cand_region, return_index=True, return_counts=True)
    pos_of = np.full(len(region), -1, np.int64)
    pos_of[cand] = np.arange(len(cand))
    rpos = pos_of[requester]
    r = np.clip(np.searchsorted(regions, region[requester].astype(str)), 0, len(regions) - 1)
    st, ct = start[r], count[r]
    ok = (rpos >= 0) & (ct >= 2) & (regions[r] == region[requester].astype(str))
    j = st + np.floor(rng.random(len(requester)) * np.maximum(ct - 1, 1)).astype(np.int64)
    j = np.where(j >= rpos, j + 1, j)
    return np.where(ok, cand[np.clip(j, 0, len(cand) - 1)], -1).astype(np.int64)


def _session_ghm(rng: np.random.Generator, dp: np.ndarray) -> np.ndarray:
    """Session GHM consistent with the requesting stay's main diagnosis."""
    dp = dp.astype(str)
    u = rng.random(len(dp))
    cancer = np.char.startswith(dp, "C") | np.char.startswith(dp, "D0")
    kidney = np.char.startswith(dp, "N18") | np.char.startswith(dp, "N17")
    other = np.where(u < 0.7, "28Z14Z", np.where(u < 0.85, "28Z16Z", "28Z15Z"))
    out = np.where(kidney, "28Z04Z", other)
    return np.where(cancer, np.where(u < 0.6, "28Z07Z", "28Z11Z"), out).astype(object)


def draw_inter_establishment(chunk: Any, stays: Frame) -> Frame:
    """Provider records of inter-establishment services: one row per record with ``base``
    (index of the requesting stay), ``day``, ``est`` (provider), ``ghm``, ``dp``, ``session``."""
    rng = chunk.artefact_rng
    art = chunk.config.artefacts
    n = len(stays)
    entry = np.asarray(stays["entry"], np.int64)
    los = np.asarray(stays["exit"], np.int64) - entry
    ghm = _text(stays["ghm"]).astype(str)
    eligible = (los >= 1) & ~np.char.startswith(ghm, "28")
    base = np.flatnonzero(eligible & (rng.random(n) < art.inter_establishment_rate))
    provider = other_mco_establishment(rng, chunk, np.asarray(stays["est"], np.int64)[base])
    base, provider = base[provider >= 0], provider[provider >= 0]
    k = len(base)
    day = entry[base] + np.floor(rng.random(k) * los[base]).astype(np.int64)  # before exit
    session = rng.random(k) < art.inter_establishment_session_share
    dp_req = _text(stays["dp"])[base]
    sess = _session_ghm(rng, dp_req)
    sess_dp = np.array([SESSION_GHM[g][0] for g in SESSION_GHM], dtype=object)
    sess_idx = np.searchsorted(np.array(list(SESSION_GHM)), sess.astype(str))
    roots = ghm[base].astype("U5")
    ones, zeros = np.ones(k, np.int64), np.zeros(k, np.int64)
    one_day = np.char.add(roots, ghm_suffix(roots, ones, zeros)).astype(object)
    # the DR of a session is the disease treated: the requesting stay's DP (tumour, kidney
    # failure); none for transfusion, apheresis and hyperbaric oxygen
    treated = np.char.startswith(dp_req.astype(str), "C") | np.char.startswith(
        dp_req.astype(str), "N18"
    )
    dr = np.where(
        session & treated & np.isin(sess.astype(str), ("28Z04Z", "28Z07Z", "28Z11Z")), dp_req, ""
    )
    return Frame(
        base=base.astype(np.int64),
        day=day,
        est=provider,
        ghm=np.where(session, sess, one_day).astype(object),
        dp=np.where(session, sess_dp[sess_idx] if k else sess, dp_req).astype(object),
        dr=dr.astype(object),
        session=session,
    )


def sej_typ_of_stays(n: int, pie: Frame) -> np.ndarray:
    """SEJ_TYP of the base stays: 'A' for requesting stays, '' (NULL) otherwise."""
    out = np.full(n, "", dtype=object)
    out[pie["base"]] = "A"
    return out


def inter_establishment_tables(
    chunk: Any,
    pie: Frame,
    patient: Any,
    person: np.ndarray,
    truth: Any,
) -> tuple[np.ndarray, dict[str, dict[str, pa.Array]]]:
    """(year of each provider record, columns of T_MCOaaB / T_MCOaaC / T_MCOaaUM).

    ``patient`` holds the requesting stays' patient columns (``nir``, ``sex``, ``dep``,
    ``postcode`` by base stay); ``person`` the chunk index of each base stay's person.
    Counts the records in ``truth``.
    """
    k = len(pie)
    base = pie["base"]
    day = pie["day"]
    persons = chunk.persons
    age_days = day - persons.birth[person[base]]
    age = np.maximum(np.floor(age_days / 365.25), 0).astype(np.int64)
    finess = _text(chunk.world.establishments.finess[pie["est"]])
    number = numbering_of(chunk).pmsi("mco", finess, day)  # the provider's own numbering
    year, month, _ = civil_from_days(day)
    eta, rsa = _s(finess), digits(number, 10)
    session = pie["session"]
    ghm = pie["ghm"]
    b = {
        "ETA_NUM": eta,
        "RSA_NUM": rsa,
        "DGN_PAL": _s(pie["dp"]),
        "DGN_REL": _s(pie["dr"], missing=_text(pie["dr"]) == ""),
        "GRG_GHM": _s(ghm),
        "GHS_NUM": _i(chunk.ref.ghs_number(ghm)),
        "AGE_ANN": _i(age),
        "AGE_JOU": _i(np.maximum(age_days, 0), missing=age >= 1),
        "COD_SEX": _s(patient.sex[base]),
        "BDI_DEP": _s(patient.dep[base]),
        "BDI_COD": _s(patient.postcode[base]),
        "SOR_ANN": _i(year),
        "SOR_MOI": digits(month, 2),
        "SEJ_NBJ": _i(np.zeros(k), missing=session),
        "NBR_SEA": _i(np.ones(k), missing=~session),
        "ENT_MOD": _const("0", k),
        "SOR_MOD": _const("0", k),
        "SEJ_TYP": _const("B", k),
        "NBR_DGN": _i(np.zeros(k)),
        "NBR_ACT": _i(np.zeros(k)),
        "NBR_RUM": _i(np.ones(k)),
        "TYP_GEN_RSA": _const("0", k),
    }
    c = {
        "ETA_NUM": eta,
        "RSA_NUM": rsa,
        "NIR_ANO_17": _s(patient.nir[base]),
        "EXE_SOI_DTD": to_date32(day),
        "EXE_SOI_DTF": to_date32(day),
        "SEJ_NUM": _const("1", k),
        "SOR_ANN": _i(year),
        "SOR_MOI": b["SOR_MOI"],
    }
    from sndslab.synth._pmsi import OTHER_RET_CODES, STAY_RET_CODES

    c |= {name: _const("0", k) for name in (*STAY_RET_CODES, *OTHER_RET_CODES["T_MCOaaC"])}
    patient.tally(base)  # NIR_ANO_17 faults of the written link rows (identity truth)
    um = {
        "ETA_NUM": eta,
        "RSA_NUM": rsa,
        "DGN_PAL": _s(pie["dp"]),
        "DGN_REL": b["DGN_REL"],  # unit rows carry the stay's DR (sessions: the tumour, N185)
        "ETA_NUM_GEO": eta,
        "PAR_DUR_SEJ": _i(np.zeros(k)),
        "UM_ORD_NUM": _i(np.ones(k)),
    }
    kept_sessions = session & ~np.isin(ghm.astype(str), SEJ_TYP_B_EXCLUDED_SESSIONS)
    truth.count("pmsi.mco.inter_establishment", k)
    truth.count("pmsi.mco.sej_typ_b", int(k - kept_sessions.sum()))
    truth.count("pmsi.mco.sej_typ_b_sessions", int(kept_sessions.sum()))
    link_truth(truth, "mco", finess, number, year, persons.pid[person[base]], patient.nir[base])
    return year, {"T_MCOaaB": b, "T_MCOaaC": c, "T_MCOaaUM": um}


def typ_gen_rsa(chunk: Any, year: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """TYP_GEN_RSA of written records: '1'–'3' for ``typ_gen_rsa_rate`` of the records of
    2015 or later among ``clean`` (no other artefact), '0' otherwise."""
    rng = chunk.artefact_rng
    m = len(year)
    gen = clean & (np.asarray(year) >= TYP_GEN_RSA_FIRST_YEAR)
    gen &= rng.random(m) < chunk.config.artefacts.typ_gen_rsa_rate
    value = rng.choice(np.array(["1", "2", "3"], dtype=object), m, p=[0.6, 0.3, 0.1])
    return np.where(gen, value, "0").astype(object)


def link_truth(
    truth: Any,
    product: str,
    finess: np.ndarray,
    number: np.ndarray,
    year: np.ndarray,
    person_id: np.ndarray,
    nir: np.ndarray,
) -> None:
    """Append written PMSI records to the ``pmsi_links`` truth table."""
    if len(number) == 0:
        return
    truth.append(
        "pmsi_links",
        {
            "product": np.full(len(number), product, dtype=object),
            "eta_num": _text(finess),
            "number": np.char.zfill(np.asarray(number, np.int64).astype(str), 10).astype(object),
            "year": np.asarray(year, np.int64),
            "nir_ano_17": _text(nir),
            "person_id": np.asarray(person_id, np.int64),
        },
    )


__all__ = [
    "SESSION_GHM",
    "draw_inter_establishment",
    "inter_establishment_tables",
    "link_truth",
    "other_mco_establishment",
    "sej_typ_of_stays",
    "typ_gen_rsa",
]
