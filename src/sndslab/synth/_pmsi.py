"""Projection of hospital stays and visits onto the PMSI tables (MCO, ACE, SSR, HAD, RIM-P).

Inputs are the ``Frame`` s built by ``_hospital`` (MCO stays, their DAS and CCAM acts) and
``_hospital_other`` (SSR stays and CSARR acts, HAD and psychiatric stays, ACE visits). Each
record gets its PMSI key, one row in the stay table (B / FASTC / RSA), one row in the patient
link table (C / CSTC) and its child rows, and is written in the file of its exit year (ACE: the
visit year). Keys are strings: ETA_NUM is the 9-character FINESS of the establishment (the
juridical one for public groups), the record number (RSA_NUM, RHA_NUM, RHAD_NUM, RIP_NUM,
SEQ_NUM) is numbered per establishment in admission order (``_numbering``), zero-padded to 10
digits, so it is unique per (establishment, year).

Artefacts injected here (each counted in the truth manifest, per written record, geographic
duplicates included, so that the counts reconcile with queries on the raw tables):

- chaining return codes: with probability ``pmsi_ret_error_rate`` per stay/bill one random
  chaining code of the C table is "1" instead of "0" (``pmsi.<product>.ret_error``);
- GHM error group: GRG_GHM = "90Z00Z" with probability ``ghm_error_rate``
  (``pmsi.mco.ghm_90``), and GRG_GME = "90Z00Z" in SSR at the same rate (``pmsi.ssr.gme_90``);
- duplicate FINESS: records of AP-HP / AP-HM / HCL establishments are, with probability
  ``finess_duplicate_rate``, sent a second time (all tables) under a geographic FINESS of the
  group and another record number (``pmsi.<product>.finess_geo_duplicates``).

Inter-establishment records (SEJ_TYP, ENT_MOD/SOR_MOD '0') and TYP_GEN_RSA are injected by
``_pmsi_extra``, which also documents the ``pmsi_links`` truth table (one row per written
record). ``pmsi.mco.filtered_records`` counts the MCO records carrying at least one artefact.

Products in the truth names: ``mco``, ``ace``, ``ssr``, ``had``, ``rip``. Row counts of every
written table are recorded as ``rows.<TABLE>`` (generic name, e.g. ``rows.T_MCOaaB``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from sndslab.synth._arrays import const_array as _const
from sndslab.synth._arrays import float_array as _f
from sndslab.synth._arrays import int_array as _i
from sndslab.synth._arrays import str_array as _s
from sndslab.synth._arrays import text_array as _text
from sndslab.synth._frame import Frame
from sndslab.synth._geography import residence_at
from sndslab.synth._ids import civil_from_days, digits, rank_within, repeat_index, to_date32
from sndslab.synth._numbering import (
    merge_batches,
    number_pmsi_records,
    numbering_of,
    row_order,
)
from sndslab.synth._pmsi_extra import (
    draw_inter_establishment,
    inter_establishment_tables,
    link_truth,
    sej_typ_of_stays,
    typ_gen_rsa,
)
from sndslab.synth._population import (
    PMSI_NIR_UNLINKED,
    PMSI_NIR_WRONG_KEY,
    key_for_events,
    pmsi_nir,
)
from sndslab.synth._quality import apply_mco_artefacts, apply_placeholder_nir, mco_quality_masks

if TYPE_CHECKING:
    from sndslab.synth._context import Chunk
    from sndslab.synth._world import World

#: Chaining return codes of the stay link tables (MCO, SSR, HAD, RIM-P C).
STAY_RET_CODES = (
    "NIR_RET",
    "NAI_RET",
    "SEX_RET",
    "SEJ_RET",
    "FHO_RET",
    "PMS_RET",
    "DAT_RET",
    "COH_NAI_RET",
    "COH_SEX_RET",
)
#: Chaining return codes of the ACE link table (T_MCOaaCSTC).
ACE_RET_CODES = ("NIR_RET", "NAI_RET", "SEX_RET", "IAS_RET", "ENT_DAT_RET")
#: Other return codes of the link tables, always valid ("0").
OTHER_RET_CODES = {
    "T_MCOaaC": ("ETA_NUM_RET", "RNG_BEN_RET", "RNG_NAI_RET"),
    "T_SSRaaC": ("ETA_NUM_RET",),
    "T_HADaaC": ("ETA_NUM_RET", "RNG_BEN_RET", "RNG_NAI_RET"),
    "T_RIPaaC": ("ETA_NUM_RET",),
    "T_MCOaaCSTC": (),
}
#: GHM / GME of records the grouper could not classify.
ERROR_GROUP = "90Z00Z"
#: Width of the zero-padded record numbers.
NUM_WIDTH = 10
#: Consultation prices (fee key, amount) and the ATU package of public-hospital ACE.
GP_SPECIALTIES = (0, 1, 22, 23)
CS_PRICE, C_PRICE, ATU_PRICE = 30.0, 25.0, 25.32


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _month(days: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """(year int64, 2-digit month string) of day numbers: SOR_ANN / SOR_MOI."""
    y, m, _ = civil_from_days(np.asarray(days, np.int64))
    return y, digits(m, 2)


def _yearmonth(days: np.ndarray) -> pa.Array:
    y, m, _ = civil_from_days(np.asarray(days, np.int64))
    return digits(y * 100 + m, 6)


def _write(
    writer: Any, truth: Any, table: str, years: np.ndarray, cols: dict[str, pa.Array]
) -> int:
    """Write ``cols`` in one file per year (``years`` gives each row's year); count the rows."""
    data = pa.table(cols)
    order = row_order(table, data)  # by establishment and record number
    if order is not None:
        data, years = data.take(pa.array(order)), np.asarray(years)[order]
    total = 0
    for y in np.unique(years):
        part = data.filter(pa.array(years == y))
        if part.num_rows:
            writer.write(table, int(y), part)
            total += part.num_rows
    truth.count(f"rows.{table}", total)
    return total


def _empty(frame: Frame | None) -> bool:
    return frame is None or frame.n_columns == 0 or len(frame) == 0


def _ret_codes(
    rng: np.random.Generator, n: int, names: Iterable[str], rate: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return codes per record: all "0", one random code "1" with probability ``rate``."""
    names = list(names)
    err = rng.random(n) < rate
    which = rng.integers(0, len(names), n)
    codes = {
        name: np.where(err & (which == i), "1", "0").astype(object) for i, name in enumerate(names)
    }
    return codes, err


def _duplicates(
    chunk: Chunk, est_idx: np.ndarray, ids: np.ndarray, product: str, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Records to write: the originals, then geographic-FINESS copies of some group records.

    Returns ``(src, finess, number, is_dup)``: for each written record the index of its base
    record, its ETA_NUM, its record number (int) and whether it is a duplicate.
    """
    world = chunk.world
    est = world.establishments
    n = len(est_idx)
    fin = _text(est.finess[est_idx])
    group = _text(est.group[est_idx])
    draw = chunk.rng.random(n) < chunk.config.artefacts.finess_duplicate_rate
    chosen = np.flatnonzero(draw & (group != ""))
    rows: list[np.ndarray] = []
    geo: list[np.ndarray] = []
    for g in np.unique(group[chosen]):
        sites = world.group_geo_finess.get(str(g))
        if sites is None or len(sites) == 0:
            continue
        r = chosen[group[chosen] == g]
        rows.append(r)
        geo.append(_text(chunk.rng.choice(np.asarray(sites), len(r))))
    dup_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    dup_fin = np.concatenate(geo) if geo else np.zeros(0, dtype=object)
    dup_num = numbering_of(chunk).pmsi(product, dup_fin, np.asarray(day)[dup_rows.astype(np.int64)])
    src = np.r_[np.arange(n, dtype=np.int64), dup_rows.astype(np.int64)]
    finess = np.r_[fin, dup_fin].astype(object)
    number = np.r_[np.asarray(ids, np.int64), dup_num.astype(np.int64)]
    is_dup = np.r_[np.zeros(n, bool), np.ones(len(dup_rows), bool)]
    return src, finess, number, is_dup


def _parent_index(ids: np.ndarray, child_ids: np.ndarray) -> np.ndarray:
    """Row of each child's parent in ``ids`` (-1 when absent)."""
    ids = np.asarray(ids, np.int64)
    child_ids = np.asarray(child_ids, np.int64)
    if len(ids) == 0:
        return np.full(len(child_ids), -1, np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.clip(np.searchsorted(ids[order], child_ids), 0, len(ids) - 1)
    parent = order[pos]
    return np.where(ids[parent] == child_ids, parent, -1).astype(np.int64)


def _expand(parent: np.ndarray, src: np.ndarray, n_base: int) -> tuple[np.ndarray, np.ndarray]:
    """Child rows of every written record: ``(record, child_row)`` (copies for duplicates)."""
    rows = np.flatnonzero(parent >= 0)
    order = rows[np.argsort(parent[rows], kind="stable")]
    counts = np.bincount(parent[rows], minlength=n_base)
    starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
    rec = repeat_index(counts[src])
    child = order[starts[src[rec]] + rank_within(rec)] if len(rec) else rec
    return rec, child


def _sequence(person: np.ndarray, entry: np.ndarray) -> np.ndarray:
    """1-based rank of each stay among the person's stays of the product (by entry)."""
    n = len(person)
    order = np.lexsort((np.arange(n), entry, person))
    rank = np.empty(n, np.int64)
    rank[order] = rank_within(np.asarray(person)[order]) + 1
    return rank


class _Patient:
    """Patient-level columns of base records (age, sex, residence, pseudonymous key)."""

    def __init__(self, chunk: Chunk, person: np.ndarray, entry: np.ndarray) -> None:
        persons = chunk.persons
        self.age_days = (np.asarray(entry) - persons.birth[person]).astype(np.int64)
        self.age = np.maximum(np.floor(self.age_days / 365.25), 0).astype(np.int64)
        self.sex = persons.sex[person].astype(np.int64).astype(str).astype(object)
        # residence on the admission day (_geography): département and INSEE commune code
        res_dep, res_com = residence_at(chunk, np.asarray(person), np.asarray(entry))
        self.dep = _text(chunk.world.territories.dep[res_dep])
        self.postcode = _text(chunk.world.communes.insee[res_com])
        key = key_for_events(chunk.rng, chunk.ident, persons, person, entry)
        rates = chunk.config.artefacts
        nir, self.nir_fault = pmsi_nir(
            chunk.identity_rng, chunk.ident, persons, key, np.asarray(person), entry, rates
        )
        self.nir = _text(nir)
        self.counts = chunk.identity_counts
        self.seq = _sequence(person, entry)

    def tally(self, src: np.ndarray) -> None:
        """Count the NIR_ANO_17 faults of written patient-link rows ``src`` (truth)."""
        fault = self.nir_fault[src]
        for name, code in (("unlinked", PMSI_NIR_UNLINKED), ("wrong_key", PMSI_NIR_WRONG_KEY)):
            key = f"identity.pmsi_nir_{name}"
            self.counts[key] = self.counts.get(key, 0) + int((fault == code).sum())

    def columns(self, src: np.ndarray, jour: bool = False) -> dict[str, pa.Array]:
        cols = {"AGE_ANN": _i(self.age[src])}
        if jour:
            days = self.age_days[src]
            cols["AGE_JOU"] = _i(np.maximum(days, 0), missing=self.age[src] >= 1)
        cols |= {
            "COD_SEX": _s(self.sex[src]),
            "BDI_DEP": _s(self.dep[src]),
            "BDI_COD": _s(self.postcode[src]),
        }
        return cols


def _link(
    key_col: str,
    eta_col: str,
    finess: np.ndarray,
    number: np.ndarray,
    patient: _Patient,
    src: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    codes: dict[str, np.ndarray],
    other: Iterable[str],
    exit_month: bool = True,
) -> dict[str, pa.Array]:
    """Columns of a patient link table (C / CSTC) for the written records."""
    m = len(src)
    cols = {
        eta_col: _s(finess),
        key_col: digits(number, NUM_WIDTH),
        "NIR_ANO_17": _s(patient.nir[src]),
        "EXE_SOI_DTD": to_date32(entry[src]),
        "EXE_SOI_DTF": to_date32(exit_[src]),
        "SEJ_NUM": digits(patient.seq[src], 1),
    }
    if exit_month:  # the ACE link table has no SOR_ANN / SOR_MOI
        year, month = _month(exit_[src])
        cols |= {"SOR_ANN": _i(year), "SOR_MOI": month}
    cols |= {name: _s(v[src]) for name, v in codes.items()}
    cols |= {name: _const("0", m) for name in other}
    patient.tally(src)
    return cols


def _unit_rows(
    n_units: np.ndarray, los: np.ndarray, icu: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """T_MCOaaUM rows of written records: ``(record, UM_ORD_NUM, PAR_DUR_SEJ, ICU unit)``.

    The nights are split between the units (the first unit, e.g. the emergency short-stay
    unit, keeps ``los // n_units`` nights, the last one the rest) so that PAR_DUR_SEJ sums to
    SEJ_NBJ; the ICU authorisation (AUT_TYP1_UM '01') is on the second unit of multi-unit ICU
    stays, else on the only unit.
    """
    n_units = np.maximum(np.asarray(n_units, np.int64), 1)
    rec = repeat_index(n_units)
    order = rank_within(rec) + 1
    k = n_units[rec]
    los = np.asarray(los, np.int64)[rec]
    share = los // k
    dur = np.where(order == k, los - share * (k - 1), share)
    icu_unit = np.asarray(icu, bool)[rec] & (order == np.minimum(k, 2))
    return rec, order, dur, icu_unit


def _exit_mode(chunk: Chunk, person: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """SOR_MOD: 9 death, 8 home."""
    died = np.asarray(exit_) >= chunk.persons.death[person]
    return np.where(died, "9", "8").astype(object)


# ---------------------------------------------------------------------------------------------
# products
# ---------------------------------------------------------------------------------------------


def _project_mco(
    chunk: Chunk, stays: Frame, das: Frame, acts: Frame, writer: Any, truth: Any
) -> None:
    rng = chunk.rng
    art = chunk.config.artefacts
    n = len(stays)
    person = stays["person"]
    entry = np.asarray(stays["entry"], np.int64)
    exit_ = np.asarray(stays["exit"], np.int64)
    patient = _Patient(chunk, person, entry)
    codes, ret_err = _ret_codes(rng, n, STAY_RET_CODES, art.pmsi_ret_error_rate)
    ghm = _text(stays["ghm"])
    ghm_err = rng.random(n) < art.ghm_error_rate
    grg = np.where(ghm_err, ERROR_GROUP, ghm).astype(object)
    ghs = np.asarray(chunk.ref.ghs_number(ghm), np.int64)
    session = np.char.startswith(ghm.astype(str), "28")
    los = exit_ - entry
    severity = np.asarray(stays["severity"], np.int64)
    icu = (severity >= 4) & (rng.random(n) < 0.3)
    das_parent = _parent_index(stays["stay"], das["stay"]) if len(das) else np.zeros(0, np.int64)
    act_parent = _parent_index(stays["stay"], acts["stay"]) if len(acts) else np.zeros(0, np.int64)
    n_das = np.bincount(das_parent[das_parent >= 0], minlength=n)
    n_act = np.bincount(act_parent[act_parent >= 0], minlength=n)
    # related diagnosis, units and act activities (optional columns of hand-built frames)
    dr = _text(stays["dr"]) if "dr" in stays else np.full(n, "", dtype=object)
    n_units = np.asarray(stays["n_units"], np.int64) if "n_units" in stays else np.ones(n, int)
    activity = np.asarray(acts["activity"], np.int64) if "activity" in acts else np.zeros(0, int)

    src, finess, number, is_dup = _duplicates(chunk, stays["est"], stays["number"], "mco", entry)
    m = len(src)
    year = civil_from_days(exit_[src])[0]
    sor_ann, sor_moi = _month(exit_[src])
    pie = draw_inter_establishment(chunk, stays)
    pie_year, pie_tables = inter_establishment_tables(chunk, pie, patient, person, truth)
    pie_tables = pie_tables if len(pie) else {}  # written with the stays (one ordered batch)
    sej_typ = sej_typ_of_stays(n, pie)[src]
    gen = typ_gen_rsa(chunk, year, ~is_dup & ~ret_err[src] & ~ghm_err[src])
    rsa = digits(number, NUM_WIDTH)
    eta = _s(finess)
    b = {
        "ETA_NUM": eta,
        "RSA_NUM": rsa,
        "DGN_PAL": _s(stays["dp"][src]),
        "DGN_REL": _s(dr[src], missing=dr[src] == ""),
        "GRG_GHM": _s(grg[src]),
        "GHS_NUM": _i(ghs[src], missing=ghm_err[src]),
        **patient.columns(src, jour=True),
        "SOR_ANN": _i(sor_ann),
        "SOR_MOI": sor_moi,
        "SEJ_NBJ": _i(los[src], missing=session[src]),
        "NBR_SEA": _i(np.ones(m), missing=~session[src]),
        "ENT_MOD": _s(stays["ent_mod"][src]),
        "ENT_PRV": _s(stays["ent_prv"][src], missing=_text(stays["ent_prv"][src]) == ""),
        "SOR_MOD": _s(stays["sor_mod"][src]),
        "SOR_DES": _s(stays["sor_des"][src], missing=_text(stays["sor_des"][src]) == ""),
        "NBR_DGN": _i(n_das[src]),
        "NBR_ACT": _i(n_act[src]),
        "NBR_RUM": _i(n_units[src]),
        "SEJ_TYP": _s(sej_typ, missing=sej_typ == ""),
        "TYP_GEN_RSA": _s(gen),
    }
    quality = mco_quality_masks(
        chunk,
        person[src],
        entry[src],
        los[src],
        session[src],
        ~is_dup & ~ret_err[src] & ~ghm_err[src] & (gen == "0"),
        stays["dp"][src],
    )
    apply_mco_artefacts(chunk, b, quality, truth)
    _write(writer, truth, "T_MCOaaB", *merge_batches(year, b, pie_year, pie_tables.get("T_MCOaaB")))
    c = _link(
        "RSA_NUM",
        "ETA_NUM",
        finess,
        number,
        patient,
        src,
        entry,
        exit_,
        codes,
        OTHER_RET_CODES["T_MCOaaC"],
    )
    apply_placeholder_nir(chunk, c, quality)
    _write(writer, truth, "T_MCOaaC", *merge_batches(year, c, pie_year, pie_tables.get("T_MCOaaC")))
    urec, uord, udur, uicu = _unit_rows(n_units[src], los[src], icu[src])
    uidx = pa.array(urec)
    um = {
        "ETA_NUM": eta.take(uidx),
        "RSA_NUM": rsa.take(uidx),
        "DGN_PAL": _s(stays["dp"][src][urec]),
        "DGN_REL": _s(dr[src][urec], missing=dr[src][urec] == ""),
        "ETA_NUM_GEO": eta.take(uidx),
        "AUT_TYP1_UM": pa.array(np.full(len(urec), "01", dtype=object), pa.string(), mask=~uicu),
        "PAR_DUR_SEJ": _i(udur),
        "UM_ORD_NUM": _i(uord),
    }
    _write(
        writer,
        truth,
        "T_MCOaaUM",
        *merge_batches(year[urec], um, pie_year, pie_tables.get("T_MCOaaUM")),
    )
    if len(das):
        rec, child = _expand(das_parent, src, n)
        d = {
            "ETA_NUM": eta.take(pa.array(rec)),
            "RSA_NUM": rsa.take(pa.array(rec)),
            "ASS_DGN": _s(das["code"][child]),
            "DGN_ASS_NUM": _i(rank_within(rec) + 1),
        }
        _write(writer, truth, "T_MCOaaD", year[rec], d)
    if len(acts):
        rec, child = _expand(act_parent, src, n)
        k = len(rec)
        a = {
            "ETA_NUM": eta.take(pa.array(rec)),
            "RSA_NUM": rsa.take(pa.array(rec)),
            "CDC_ACT": _s(chunk.ref.ccam_codes[np.asarray(acts["code"], np.int64)[child]]),
            "ACV_ACT": _s(activity[child].astype(str)) if len(activity) else _const("1", k),
            "PHA_ACT": _const("0", k),
            "NBR_EXE_ACT": _i(np.ones(k)),
            "ENT_DAT_DEL": _i(acts["delay"][child]),
        }
        _write(writer, truth, "T_MCOaaA", year[rec], a)
        if len(activity):
            truth.count("pmsi.mco.anaesthesia_acts", int((activity[child] == 4).sum()))
    link_truth(truth, "mco", finess, number, year, chunk.persons.pid[person[src]], patient.nir[src])
    written_err = np.any([v == "1" for v in codes.values()], axis=0)[src]
    truth.count("pmsi.mco.stays", n)
    _count_structure(truth, stays, src, n_units, dr, los, session)
    truth.count("pmsi.mco.ret_error", int(written_err.sum()))
    truth.count("pmsi.mco.ghm_90", int(ghm_err[src].sum()))
    truth.count("pmsi.mco.finess_geo_duplicates", int(is_dup.sum()))
    truth.count("pmsi.mco.typ_gen_rsa", int((gen != "0").sum()))
    truth.count("pmsi.mco.sej_typ_a", int((sej_typ == "A").sum()))
    flagged = is_dup | written_err | ghm_err[src] | (gen != "0") | np.any(quality, axis=0)
    truth.count("pmsi.mco.filtered_records", int(flagged.sum()) + len(pie))
    # their T_MCOaaUM rows (several units per stay; one per inter-establishment record)
    truth.count("pmsi.mco.filtered_um_rows", int(n_units[src][flagged].sum()) + len(pie))


def _count_structure(
    truth: Any,
    stays: Frame,
    src: np.ndarray,
    n_units: np.ndarray,
    dr: np.ndarray,
    los: np.ndarray,
    session: np.ndarray,
) -> None:
    """Truth counts of the PMSI structure, per written T_MCOaaB / T_MCOaaA row of the base
    stays (geographic duplicates included; inter-establishment records excluded)."""
    from sndslab.synth._hospital import STAY_KINDS

    kind = np.asarray(stays["kind"], np.int64)[src] if "kind" in stays else np.zeros(len(src))
    ent = _text(stays["ent_mod"])[src]
    sor, des = _text(stays["sor_mod"])[src], _text(stays["sor_des"])[src]
    s = session[src]
    truth.count("pmsi.mco.sessions", int(s.sum()))
    truth.count("pmsi.mco.zero_night_stays", int(((los[src] == 0) & ~s).sum()))
    truth.count("pmsi.mco.multi_unit_stays", int((n_units[src] > 1).sum()))
    truth.count("pmsi.mco.dgn_rel", int((dr[src] != "").sum()))
    truth.count("pmsi.mco.transfers_in", int((ent == "7").sum()))
    truth.count("pmsi.mco.transfers_out", int(((sor == "7") & (des == "1")).sum()))
    truth.count("pmsi.mco.emergency_admissions", int((_text(stays["ent_prv"])[src] == "5").sum()))
    truth.count("pmsi.mco.deliveries", int((kind == STAY_KINDS["delivery"]).sum()))
    truth.count("pmsi.mco.newborn_stays", int((kind == STAY_KINDS["newborn"]).sum()))


def _project_ace(chunk: Chunk, ace: Frame, writer: Any, truth: Any) -> None:
    rng = chunk.rng
    art = chunk.config.artefacts
    n = len(ace)
    person = ace["person"]
    day = np.asarray(ace["day"], np.int64)
    patient = _Patient(chunk, person, day)
    codes, _ = _ret_codes(rng, n, ACE_RET_CODES, art.pmsi_ret_error_rate)
    src, finess, number, is_dup = _duplicates(chunk, ace["est"], ace["number"], "ace", day)
    year, month = _month(day[src])
    seq = digits(number, NUM_WIDTH)
    eta = _s(finess)
    # the geographic FINESS of the site: the establishment itself, or the duplicate's site
    fa = {
        "ETA_NUM": eta,
        "SEQ_NUM": seq,
        **patient.columns(src),
        "ETA_NUM_GEO": eta,
        "SOR_ANN": _i(year),
        "SOR_MOI": month,
    }
    _write(writer, truth, "T_MCOaaFASTC", year, fa)
    cs = _link(
        "SEQ_NUM",
        "ETA_NUM",
        finess,
        number,
        patient,
        src,
        day,
        day,
        codes,
        OTHER_RET_CODES["T_MCOaaCSTC"],
        exit_month=False,
    )
    _write(writer, truth, "T_MCOaaCSTC", year, cs)
    kind = np.asarray(ace["kind"], np.int64)[src]
    spe = np.asarray(ace["specialty"], np.int64)[src]

    def common(rows: np.ndarray) -> dict[str, pa.Array]:
        idx = pa.array(rows)
        return {
            "ETA_NUM": eta.take(idx),
            "SEQ_NUM": seq.take(idx),
            "ETA_NUM_GEO": eta.take(idx),
            "SOR_ANN": _i(year[rows]),
            "SOR_MOI": month.take(idx),
            "DEL_DAT_ENT": _i(np.zeros(len(rows))),
        }

    cons = np.flatnonzero(kind == 0)
    if len(cons):
        gp = np.isin(spe[cons], GP_SPECIALTIES)
        price = np.where(gp, C_PRICE, CS_PRICE)
        k = len(cons)
        fc = common(cons) | {
            "ACT_COD": _s(np.where(gp, "C", "CS")),
            "EXE_SPE": _s(spe[cons]),
            "ACT_NBR": _i(np.ones(k)),
            "ACT_COE": _f(np.ones(k)),
            "PRI_UNI": _f(price),
            "HON_MNT": _f(price),
            "REM_BAS": _f(price),
            "REM_TAU": _i(np.full(k, 70)),
        }
        _write(writer, truth, "T_MCOaaFCSTC", year[cons], fc)
    atu = np.flatnonzero(kind == 1)
    if len(atu):
        k = len(atu)
        fb = common(atu) | {
            "ACT_COD": _const("ATU", k),
            "ACT_NBR": _i(np.ones(k)),
            "ACT_COE": _f(np.ones(k)),
            "PRI_UNI": _f(np.full(k, ATU_PRICE)),
            "REM_BAS": _f(np.full(k, ATU_PRICE)),
            "REM_TAU": _i(np.full(k, 100)),
        }
        _write(writer, truth, "T_MCOaaFBSTC", year[atu], fb)
    act = np.asarray(ace["act"], np.int64)[src]
    with_act = np.flatnonzero(act >= 0)
    if len(with_act):
        k = len(with_act)
        fm = common(with_act) | {
            "CCAM_COD": _s(chunk.ref.ccam_codes[act[with_act]]),
            "ACV_ACT": _const("1", k),
            "PHA_ACT": _const("0", k),
        }
        _write(writer, truth, "T_MCOaaFMSTC", year[with_act], fm)
    link_truth(truth, "ace", finess, number, year, chunk.persons.pid[person[src]], patient.nir[src])
    written_err = np.any([v == "1" for v in codes.values()], axis=0)[src]
    truth.count("pmsi.ace.visits", n)
    truth.count("pmsi.ace.ret_error", int(written_err.sum()))
    truth.count("pmsi.ace.finess_geo_duplicates", int(is_dup.sum()))


def _project_ssr(
    chunk: Chunk, ssr: Frame, csarr: Frame, mco: Frame, writer: Any, truth: Any
) -> None:
    rng = chunk.rng
    art = chunk.config.artefacts
    n = len(ssr)
    person = ssr["person"]
    entry = np.asarray(ssr["entry"], np.int64)
    exit_ = np.asarray(ssr["exit"], np.int64)
    weeks = np.maximum(np.asarray(ssr["weeks"], np.int64), 1)
    patient = _Patient(chunk, person, entry)
    codes, _ = _ret_codes(rng, n, STAY_RET_CODES, art.pmsi_ret_error_rate)
    gme_err = rng.random(n) < art.ghm_error_rate
    gme = np.where(gme_err, ERROR_GROUP, _text(ssr["gme"])).astype(object)
    sor_mod = _exit_mode(chunk, person, exit_)
    # weekly summaries (RHS) of the base stays and their CSARR act counts
    week_stay = repeat_index(weeks)
    week_no = rank_within(week_stay) + 1
    week_off = np.r_[0, np.cumsum(weeks)[:-1]].astype(np.int64)
    csarr_stay = _parent_index(ssr["stay"], csarr["stay"]) if len(csarr) else np.zeros(0, np.int64)
    csarr_week = np.asarray(csarr["week"], np.int64) if len(csarr) else np.zeros(0, np.int64)
    ok = (csarr_stay >= 0) & (csarr_week >= 1)
    ok[ok] &= csarr_week[ok] <= weeks[csarr_stay[ok]]
    csarr_parent = np.where(ok, week_off[np.maximum(csarr_stay, 0)] + csarr_week - 1, -1)
    n_csarr = np.bincount(csarr_parent[csarr_parent >= 0], minlength=len(week_stay))

    src, finess, number, is_dup = _duplicates(chunk, ssr["est"], ssr["number"], "ssr", entry)
    year = civil_from_days(exit_[src])[0]
    rha = digits(number, NUM_WIDTH)
    eta = _s(finess)
    # B: one row per written stay and week
    rec, wrow = _expand(week_stay, src, n)
    idx = pa.array(rec)
    k = len(rec)
    b = {
        "ETA_NUM": eta.take(idx),
        "RHA_NUM": rha.take(idx),
        "RHS_NUM": digits(week_no[wrow], 3),
        "ETA_NUM_GEO": eta.take(idx),
        "MOR_PRP": _s(ssr["mor_prp"][src][rec]),
        "ETL_AFF": _s(ssr["etl_aff"][src][rec]),
        "FP_PEC": _s(ssr["fp_pec"][src][rec]),
        "GRG_GME": _s(gme[src][rec]),
        "HOS_TYP_UM": _const("1", k),
        **{c: v.take(idx) for c, v in patient.columns(src).items()},
        "MOI_ANN": _yearmonth(
            np.minimum(entry[src][rec] + 7 * (week_no[wrow] - 1), exit_[src][rec])
        ),
        "MOI_ANN_SOR_SEJ": _yearmonth(exit_[src][rec]),
        "RHS_ANT_SEJ_ENT": _i(7 * (week_no[wrow] - 1)),
        "ENT_MOD": _const("7", k),
        "SOR_MOD": _s(sor_mod[src][rec]),
        "NBR_CSARR": _i(n_csarr[wrow]),
    }
    _write(writer, truth, "T_SSRaaB", year[rec], b)
    c = _link(
        "RHA_NUM",
        "ETA_NUM",
        finess,
        number,
        patient,
        src,
        entry,
        exit_,
        codes,
        OTHER_RET_CODES["T_SSRaaC"],
    )
    _write(writer, truth, "T_SSRaaC", year, c)
    if len(csarr):
        crec, child = _expand(csarr_stay, src, n)
        keep = ok[child]
        crec, child = crec[keep], child[keep]
        cidx = pa.array(crec)
        cc = {
            "ETA_NUM": eta.take(cidx),
            "RHA_NUM": rha.take(cidx),
            "RHS_NUM": digits(csarr_week[child], 3),
            "CSARR_COD": _s(csarr["code"][child]),
            "NBR_CSARR": _i(np.ones(len(child))),
        }
        _write(writer, truth, "T_SSRaaCSARR", year[crec], cc)
    # D: one associated diagnosis per stay, the main diagnosis of the MCO stay before it
    if len(mco) and "mco_stay" in ssr:
        mpos = _parent_index(mco["stay"], ssr["mco_stay"])
        has = (mpos >= 0)[src]
        rows = np.flatnonzero(has)
        if len(rows):
            didx = pa.array(rows)
            d = {
                "ETA_NUM": eta.take(didx),
                "RHA_NUM": rha.take(didx),
                "RHS_NUM": _const("001", len(rows)),
                "DGN_COD": _s(mco["dp"][mpos[src[rows]]]),
            }
            _write(writer, truth, "T_SSRaaD", year[rows], d)
    link_truth(truth, "ssr", finess, number, year, chunk.persons.pid[person[src]], patient.nir[src])
    written_err = np.any([v == "1" for v in codes.values()], axis=0)[src]
    truth.count("pmsi.ssr.stays", n)
    truth.count("pmsi.ssr.weeks", k)
    truth.count("pmsi.ssr.gme_90_rows", int(gme_err[src][rec].sum()))
    truth.count("pmsi.ssr.finess_geo_duplicate_rows", int(is_dup[rec].sum()))
    truth.count("pmsi.ssr.ret_error", int(written_err.sum()))
    truth.count("pmsi.ssr.gme_90", int(gme_err[src].sum()))
    truth.count("pmsi.ssr.finess_geo_duplicates", int(is_dup.sum()))


def _project_had(chunk: Chunk, had: Frame, writer: Any, truth: Any) -> None:
    rng = chunk.rng
    n = len(had)
    person = had["person"]
    entry = np.asarray(had["entry"], np.int64)
    exit_ = np.asarray(had["exit"], np.int64)
    patient = _Patient(chunk, person, entry)
    codes, err = _ret_codes(rng, n, STAY_RET_CODES, chunk.config.artefacts.pmsi_ret_error_rate)
    src = np.arange(n)
    fin = _text(chunk.world.establishments.finess[had["est"]])
    number = np.asarray(had["number"], np.int64)
    year, month = _month(exit_)
    los = exit_ - entry
    eta = _s(fin)
    b = {
        "ETA_NUM_EPMSI": eta,
        "RHAD_NUM": digits(number, NUM_WIDTH),
        "ETA_NUM_GEO": eta,
        "SEQ_NUM": _const("001", n),
        "SSEQ_NUM": _const("001", n),
        "DGN_PAL": _s(had["dp"]),
        "PEC_PAL": _s(had["pec_pal"]),
        **patient.columns(src, jour=True),
        "ENT_MOD": _const("8", n),
        "SOR_MOD": _s(_exit_mode(chunk, person, exit_)),
        "SOR_ANN": _i(year),
        "SOR_MOI": month,
        "SEJ_NBJ": _i(los),
        "SEQ_NBJ": _i(los),
        "NBR_DGN": _i(np.zeros(n)),
        "NBR_ACT": _i(np.zeros(n)),
    }
    _write(writer, truth, "T_HADaaB", year, b)
    c = _link(
        "RHAD_NUM",
        "ETA_NUM_EPMSI",
        fin,
        number,
        patient,
        src,
        entry,
        exit_,
        codes,
        OTHER_RET_CODES["T_HADaaC"],
    )
    c["ETA_NUM_GEO"] = eta
    _write(writer, truth, "T_HADaaC", year, c)
    link_truth(truth, "had", fin, number, year, chunk.persons.pid[person], patient.nir)
    truth.count("pmsi.had.stays", n)
    truth.count("pmsi.had.ret_error", int(err.sum()))


def _project_rip(chunk: Chunk, psy: Frame, writer: Any, truth: Any) -> None:
    rng = chunk.rng
    n = len(psy)
    person = psy["person"]
    entry = np.asarray(psy["entry"], np.int64)
    exit_ = np.asarray(psy["exit"], np.int64)
    patient = _Patient(chunk, person, entry)
    codes, err = _ret_codes(rng, n, STAY_RET_CODES, chunk.config.artefacts.pmsi_ret_error_rate)
    src = np.arange(n)
    fin = _text(chunk.world.establishments.finess[psy["est"]])
    number = np.asarray(psy["number"], np.int64)
    year, month = _month(exit_)
    los = exit_ - entry
    legal = _s(psy["legal"])
    gen = typ_gen_rsa(chunk, year, ~err)
    rsa = {
        "ETA_NUM_EPMSI": _s(fin),
        "RIP_NUM": digits(number, NUM_WIDTH),
        "SEQ_SEQ_NUM": _const("001", n),
        "DGN_PAL": _s(psy["dp"]),
        "FOR_ACT": _const("01", n),
        "MOD_SOI": legal,
        "SEJ_LEG": legal,
        **patient.columns(src, jour=True),
        "ENT_MOD": _const("8", n),
        "SOR_MOD": _s(_exit_mode(chunk, person, exit_)),
        "SEQ_FIN_ANN": _i(year),
        "SEQ_FIN_MOI": month,
        "SEQ_COU_NBJ": _i(los),
        "PRE_JOU_NBJ": _i(los),
        "NBR_DGN": _i(np.zeros(n)),
        "TYP_GEN_RSA": _s(gen),
    }
    _write(writer, truth, "T_RIPaaRSA", year, rsa)
    c = _link(
        "RIP_NUM",
        "ETA_NUM_EPMSI",
        fin,
        number,
        patient,
        src,
        entry,
        exit_,
        codes,
        OTHER_RET_CODES["T_RIPaaC"],
    )
    _write(writer, truth, "T_RIPaaC", year, c)
    link_truth(truth, "rip", fin, number, year, chunk.persons.pid[person], patient.nir)
    truth.count("pmsi.rip.stays", n)
    truth.count("pmsi.rip.typ_gen_rsa", int((gen != "0").sum()))
    truth.count("pmsi.rip.ret_error", int(err.sum()))


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------


def project_pmsi(
    chunk: Chunk,
    mco: tuple[Frame, Frame, Frame],
    ssr: tuple[Frame, Frame],
    had: Frame,
    psy: Frame,
    ace: Frame,
    writer: Any,
    truth: Any,
) -> None:
    """Write the PMSI tables of one chunk (one file per table and exit year)."""
    stays, das, acts = mco
    ssr_stays, csarr = ssr
    number_pmsi_records(chunk, mco=stays, ace=ace, ssr=ssr_stays, had=had, rip=psy)
    if not _empty(stays):
        _project_mco(chunk, stays, das, acts, writer, truth)
    if not _empty(ace):
        _project_ace(chunk, ace, writer, truth)
    if not _empty(ssr_stays):
        _project_ssr(
            chunk, ssr_stays, csarr, stays if not _empty(stays) else Frame(), writer, truth
        )
    if not _empty(had):
        _project_had(chunk, had, writer, truth)
    if not _empty(psy):
        _project_rip(chunk, psy, writer, truth)


def write_mco_establishments(world: World, writer: Any, years: Iterable[int]) -> int:
    """T_MCOaaE: every establishment (and geographic site of the groups) once per year.

    Called once per run (not per chunk) so each ETA_NUM appears once per yearly file; the
    geographic FINESS are included because the duplicate artefact uses them as ETA_NUM.
    """
    est = world.establishments
    fin = _text(est.finess)
    name = _text(est.name)
    status = np.where(np.asarray(est.public, bool), "1", "2").astype(object)
    region = _text(est.region)
    sites: list[np.ndarray] = [fin]
    names: list[np.ndarray] = [name]
    stats: list[np.ndarray] = [status]
    regions: list[np.ndarray] = [region]
    group = _text(est.group)
    for g, geo in world.group_geo_finess.items():
        hosts = np.flatnonzero(group == g)
        if len(hosts) == 0 or len(geo) == 0:
            continue
        geo = _text(np.asarray(geo))
        sites.append(geo)
        names.append(np.char.add("SITE ", geo.astype(str)).astype(object))
        stats.append(np.full(len(geo), status[hosts[0]], dtype=object))
        regions.append(np.full(len(geo), region[hosts[0]], dtype=object))
    all_fin = np.concatenate(sites)
    _, first = np.unique(all_fin.astype(str), return_index=True)
    first = np.sort(first)
    total = 0
    for year in years:
        k = len(first)
        table = pa.table(
            {
                "ETA_NUM": _s(all_fin[first]),
                "SOC_RAI": _s(np.concatenate(names)[first]),
                "STA_ETA": _s(np.concatenate(stats)[first]),
                "REG_ETA": _s(np.concatenate(regions)[first]),
                "ANN_TRT": _const(str(int(year)), k),
            }
        )
        writer.write("T_MCOaaE", int(year), table)
        total += k
    return total


__all__ = ["project_pmsi", "write_mco_establishments"]
