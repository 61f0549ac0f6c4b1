"""Beneficiaries (IR_BEN_R), long-term diseases (IR_IMB_R), causes of death (KI_CCI_R,
KI_ECD_R) and the referentials (DA_PRA_R, BE_IDE_R, IR_PHA_R, GHM, SNDS nomenclatures).
"""

from __future__ import annotations

import itertools
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sndslab.registry import get_table
from sndslab.synth._context import Chunk
from sndslab.synth._frame import Frame
from sndslab.synth._geography import residence_at
from sndslab.synth._hospital import ghm_suffixes
from sndslab.synth._ids import (
    NO_DAY,
    civil_from_days,
    day_of,
    random_codes,
    to_date32,
    year_of,
)
from sndslab.synth._numbering import order_rows
from sndslab.synth._pmsi_extra import SESSION_GHM
from sndslab.synth._population import FICTITIOUS_BIRTH_DAY
from sndslab.synth._quality import GHM_ABORTION, imb_missing_start
from sndslab.synth._world import CHU, World

#: Vendored SNDS nomenclatures copied unchanged into the raw export, as CNAM delivers them.
EXPORTED_NOMENCLATURES = (
    "ORAVAL/IR_NAT_V",
    "ORAVAL/IR_SPE_V",
    "ORAVAL/IR_CIM_V",
    "ORAVAL/IR_DPT_V",
    "ORAVAL/IR_GEO_V",
    "ORAVAL/IR_ALD_V",
    "ATIH/IR_CCAM_V63",
    "ORAREF/IR_BIO_R",
    "ORAREF/NU_UCD_R",
)


def emit(writer: Any, table: str, year: int | None, columns: dict[str, Any]) -> int:
    """Cast ``columns`` to the registry types of ``table`` and write them; returns the rows."""
    spec = get_table(table)
    schema = spec.arrow_schema()
    arrays = {}
    for name, values in columns.items():
        target = schema.field(name).type
        arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
        if arr.type != target:
            if pa.types.is_string(target) and pa.types.is_binary(arr.type):
                arr = arr.cast(pa.string())
            arr = arr.cast(target)
        arrays[name] = arr
    data = order_rows(table, pa.table(arrays))  # row order of the producing system
    if data.num_rows:
        writer.write(table, year, data)
    return data.num_rows


def emit_by_year(writer: Any, table: str, years: np.ndarray, columns: dict[str, Any]) -> int:
    """``emit`` split into one file per year (``years`` gives each row's year)."""
    years = np.asarray(years)
    if len(years) == 0:
        return 0
    order = None if np.all(years[1:] >= years[:-1]) else np.argsort(years, kind="stable")
    arrays = {}
    for k, v in columns.items():
        arr = v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v)
        arrays[k] = arr if order is None else arr.take(pa.array(order))
    sorted_years = years if order is None else years[order]
    bounds = np.flatnonzero(np.r_[True, sorted_years[1:] != sorted_years[:-1], True])
    total = 0
    for lo, hi in itertools.pairwise(bounds):
        part = {k: v.slice(lo, hi - lo) for k, v in arrays.items()}
        total += emit(writer, table, int(sorted_years[lo]), part)
    return total


def _str(values: np.ndarray) -> pa.Array:
    if values.dtype.kind == "S":
        return pa.array(values.astype(object)).cast(pa.string())
    return pa.array(values.astype(object), pa.string())


def _idt(chunk: Chunk, rows: np.ndarray) -> np.ndarray:
    """BEN_IDT_ANO of identity rows: BEN_NIR_ANO when known, else PSA + rank."""
    ident = chunk.ident
    persons = chunk.persons
    nir = np.full(len(rows), b"", dtype="S17")
    real = ident.pid[rows] >= 0
    pos = np.searchsorted(persons.pid, ident.pid[rows][real])
    nir[real] = persons.nir_ano[pos]
    if chunk.key_quirks is not None:  # keys without BEN_NIR_ANO (identity difficulty)
        nir[chunk.key_quirks.of("nir_missing", rows)] = b""
    fallback = np.char.add(ident.psa[rows], ident.rng_gem[rows].astype("S1"))
    return np.where(nir == b"", fallback, nir).astype(object)


def beneficiaries(chunk: Chunk, consumers: np.ndarray, writer: Any, truth: Any) -> None:
    """IR_BEN_R: one row per (BEN_NIR_PSA, BEN_RNG_GEM), fictitious keys included."""
    rng = chunk.rng
    ident = chunk.ident
    persons = chunk.persons
    n = len(ident)
    rows = np.arange(n)
    real = ident.pid >= 0
    pos = np.where(real, np.searchsorted(persons.pid, np.where(real, ident.pid, 0)), 0)
    birth = np.where(real, persons.birth[pos], FICTITIOUS_BIRTH_DAY + rng.integers(0, 365, n))
    by, bm, _ = civil_from_days(birth)
    sex = np.where(real, persons.sex[pos], rng.integers(1, 3, n))
    quirks = chunk.key_quirks
    if quirks is not None:  # birth year or sex disagreeing between keys (identity difficulty)
        by = by + quirks.of("birth_year_shift", rows)
        sex = np.where(quirks.of("sex_swapped", rows), 3 - sex, sex)
    death = np.where(real, persons.death[pos], NO_DAY)
    dead = death <= chunk.study_end
    dy, dm, _ = civil_from_days(np.where(dead, death, 0))
    nir = np.where(real, persons.nir_ano[pos], b"")
    if quirks is not None:
        nir = np.where(quirks.of("nir_missing", rows), b"", nir)
    # last known residence (at the study end or death), _geography
    res_dep, res_com = residence_at(chunk, pos, np.minimum(persons.death[pos], chunk.study_end))
    snds_dpt = chunk.world.territories.snds_dpt[res_dep]
    adult = (chunk.study_start - birth) >= 18 * 365.25
    opener = np.where(adult & real, nir, rng.integers(10**15, 10**16, n).astype("S17"))
    update = chunk.study_end + rng.integers(30, 200, n)
    cols = {
        "BEN_NIR_PSA": _str(ident.psa),
        "BEN_RNG_GEM": ident.rng_gem.astype(np.int64),
        "BEN_NIR_ANO": pa.array(nir.astype(object), pa.binary()).cast(pa.string()),
        "BEN_IDT_ANO": pa.array(_idt(chunk, rows), pa.binary()).cast(pa.string()),
        "BEN_IDT_TOP": np.where(nir != b"", 1, 0).astype(np.int64),
        "ASS_NIR_ANO": pa.array(opener.astype(object), pa.binary()).cast(pa.string()),
        "BEN_CDI_NIR": pa.array(ident.cdi_nir, pa.string()),
        "BEN_NAI_ANN": by.astype(np.int64),
        "BEN_NAI_MOI": bm.astype(np.int64),
        "BEN_SEX_COD": sex.astype(np.int64),
        "BEN_DCD_DTE": to_date32(np.where(dead, death, 0), missing=~dead),
        "BEN_DCD_AME": pa.array(
            np.char.add(dy.astype(str), np.char.zfill(dm.astype(str), 2)).astype(object),
            pa.string(),
            mask=~dead,
        ),
        "ORG_AFF_BEN": pa.array(
            np.char.add("01", np.char.add(snds_dpt.astype(str), "0000")).astype(object), pa.string()
        ),
        "BEN_RES_DPT": pa.array(snds_dpt, pa.string()),
        "BEN_RES_COM": pa.array(chunk.world.communes.code[res_com], pa.string()),
        "BEN_TOP_CNS": np.where(real, consumers[pos], 1).astype(np.int64),
        "MAX_TRT_DTD": to_date32(
            np.minimum(np.where(dead, death, chunk.study_end), chunk.study_end)
        ),
        "BEN_DTE_INS": to_date32(
            np.where(
                real & (persons.entry_reason[pos] > 0),
                persons.entry[pos],
                np.maximum(birth, day_of(1990, 1, 1)),
            )
        ),
        "BEN_DTE_MAJ": to_date32(update),
    }
    absent = _absent_from_ir_ben_r(chunk, real, pos)
    chunk.absent_keys = absent
    keep = pa.array(~absent)
    cols = {
        k: (v.filter(keep) if isinstance(v, pa.Array) else np.asarray(v)[~absent])
        for k, v in cols.items()
    }
    truth.count("ir_ben_r.absent_keys", int(absent.sum()))
    if quirks is not None:
        written = ~absent & real
        for name, mask in (
            ("nir_ano_missing_keys", quirks.of("nir_missing", rows)),
            ("birth_year_disagreement_keys", quirks.of("birth_year_shift", rows) != 0),
            ("sex_disagreement_keys", quirks.of("sex_swapped", rows)),
        ):
            truth.count(f"identity.{name}", int((mask & written).sum()))
    truth.count("rows.IR_BEN_R", emit(writer, "IR_BEN_R", None, cols))


def _absent_from_ir_ben_r(chunk: Chunk, real: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Keys left out of IR_BEN_R: main keys (regular NIR) of persons who have no other key
    and share their PSA with nobody, with probability ``ir_ben_r_missing_rate`` (drawn on the
    artefact stream). Such a key is found only in the care tables (ingest: ``dcir_only``)."""
    ident = chunk.ident
    n = len(ident)
    n_persons = len(chunk.persons)
    keys_per_person = np.bincount(pos[real], minlength=n_persons)
    eligible = real & (ident.role == "main") & (np.arange(n) < n_persons)
    eligible &= ident.cdi_nir == "00"  # a regular NIR (not provisional)
    eligible &= keys_per_person[np.where(real, pos, 0)] == 1
    _, inverse, counts = np.unique(ident.psa, return_inverse=True, return_counts=True)
    eligible &= counts[inverse] == 1
    rate = chunk.config.artefacts.ir_ben_r_missing_rate
    return eligible & (chunk.artefact_rng.random(n) < rate)


def long_term_diseases(chunk: Chunk, ald: Frame, writer: Any, truth: Any) -> None:
    """IR_IMB_R: one row per exemption (ALD or occupational), keyed by the main PSA."""
    if len(ald) == 0:
        return
    ident = chunk.ident
    key = ald["person"]  # main key row of a person == its index
    open_end = ald["end"] == day_of(1600, 1, 1)
    no_start = imb_missing_start(chunk, ald)
    truth.count("ir_imb_r.missing_start", int(no_start.sum()))
    cols = {
        "BEN_NIR_PSA": _str(ident.psa[key]),
        "BEN_RNG_GEM": ident.rng_gem[key].astype(np.int64),
        "IMB_ALD_DTD": to_date32(ald["start"], missing=no_start),
        "IMB_ALD_DTF": to_date32(ald["end"]),
        "IMB_ALD_NUM": ald["ald"].astype(np.int64),
        "IMB_ETM_NAT": ald["etm"].astype(np.int64),
        "MED_MTF_COD": pa.array(ald["icd10"], pa.string()),
        "MED_NCL_IDT": pa.array(np.full(len(ald), "CIM10", dtype=object), pa.string()),
        "INS_DTE": to_date32(ald["start"] + chunk.rng.integers(0, 30, len(ald))),
        "UPD_DTE": to_date32(np.where(open_end, ald["start"], ald["end"]) + 1),
    }
    truth.count("rows.IR_IMB_R", emit(writer, "IR_IMB_R", None, cols))
    truth.count("ir_imb_r.open_ended_sentinel", int(open_end.sum()))
    truth.count("ir_imb_r.occupational", int(np.isin(ald["etm"], ["11", "12", "13"]).sum()))


def causes_of_death(chunk: Chunk, cert: Frame, listed: Frame, writer: Any, truth: Any) -> None:
    """KI_CCI_R (one row per certificate) and KI_ECD_R (one row per listed cause)."""
    if len(cert) == 0:
        return
    persons = chunk.persons
    p = cert["person"]
    idt = _idt(chunk, p)
    year = year_of(cert["day"])
    dpt = chunk.world.territories.snds_dpt[residence_at(chunk, p, cert["day"])[0]]
    by, _, _ = civil_from_days(persons.birth[p])
    certificate = pa.array(random_codes(chunk.rng, len(cert), 17)).cast(pa.string())
    nir = pa.array(persons.nir_ano[p]).cast(pa.string())
    nir = pc.if_else(pc.equal(nir, ""), pa.scalar(None, pa.string()), nir)
    cols = {
        "DCD_IDT_ENC": certificate,
        "DCD_IDT_TOP": np.ones(len(cert), np.int64),
        "BEN_IDT_ANO": pa.array(idt, pa.binary()).cast(pa.string()),
        "BEN_NIR_ANO": nir,
        "BEN_IDT_TOP": np.ones(len(cert), np.int64),
        "FLX_PER_ANN": year.astype(np.int64),
        "DCD_DPT_COD": pa.array(dpt, pa.string()),
        "BEN_RES_DPT": pa.array(dpt, pa.string()),
        "BEN_DCD_DTE": to_date32(cert["day"]),
        "DCD_LIE_COD": cert["place"].astype(np.int64),
        "BEN_NAI_ANN": by.astype(np.int64),
        "BEN_SEX_COD": persons.sex[p].astype(np.int64),
        "DCD_CIM_COD": pa.array(cert["cause"], pa.string()),
    }
    truth.count("rows.KI_CCI_R", emit_by_year(writer, "KI_CCI_R", year, cols))
    lp = listed["person"]
    pos = np.searchsorted(cert["person"], lp)  # cert is sorted by person index
    ly = year_of(cert["day"][pos])
    cols = {
        "DCD_IDT_ENC": certificate.take(pa.array(pos)),
        "DCD_IDT_TOP": np.ones(len(listed), np.int64),
        "BEN_IDT_ANO": pa.array(idt[pos], pa.binary()).cast(pa.string()),
        "BEN_NIR_ANO": nir.take(pa.array(pos)),
        "BEN_IDT_TOP": np.ones(len(listed), np.int64),
        "FLX_PER_ANN": ly.astype(np.int64),
        "CER_LIG_NUM": listed["line"].astype(np.int64),
        "ECD_CAU_RNG": listed["rank"].astype(np.int64),
        "ECD_CIM_COD": pa.array(listed["code"], pa.string()),
        "BEN_DCD_DTE": to_date32(cert["day"][pos]),
    }
    truth.count("rows.KI_ECD_R", emit_by_year(writer, "KI_ECD_R", ly, cols))


def practitioners(world: World, last_year: int, writer: Any) -> int:
    """DA_PRA_R: one row per professional (snapshot of the last study year)."""
    prac = world.practitioners
    n = len(prac)
    dep = world.territories.dep[prac.dep]
    spe = np.where(prac.specialty > 0, prac.specialty, 0).astype(str)
    nature = np.where(prac.act_nat > 0, prac.act_nat.astype(str), "1")
    cols = {
        "DTE_ANN_TRT": np.full(n, last_year, np.int64),
        "DTE_MOI_FIN": np.full(n, 12, np.int64),
        "PFS_PFS_NUM": _str(prac.num),
        "IPP_SEX_COD": pa.array(prac.sex.astype(str).astype(object), pa.string()),
        "IPP_ANN_NAI": prac.birth_year.astype(np.int64),
        "PFS_PRA_SPE": pa.array(spe.astype(object), pa.string()),
        "EXC_EXC_NAT": pa.array(nature.astype(object), pa.string()),
        "CNV_CNV_COD": pa.array(prac.sector.astype(str).astype(object), pa.string()),
        "PFS_EXC_COM": pa.array(np.char.add(dep.astype(str), "001").astype(object), pa.string()),
        "PFS_COD_POS": pa.array(
            np.char.add(np.char.zfill(dep.astype(str), 2), "000").astype(object), pa.string()
        ),
        "PFS_INS_DSD": pa.array(
            np.char.add(prac.install_year.astype(str), "0101").astype(object), pa.string()
        ),
    }
    return emit(writer, "DA_PRA_R", None, cols)


def establishments(world: World, writer: Any) -> int:
    """BE_IDE_R: juridical entities and their geographic sites (IDE_ETA_TYP 1 / 2)."""
    est = world.establishments
    fin = est.finess.astype(str)
    jur_of_geo: list[tuple[str, str, int]] = []
    for group, geo in world.group_geo_finess.items():
        hosts = np.flatnonzero(est.group == group)
        if len(hosts) == 0:
            continue
        for g in geo:
            jur_of_geo.append((str(g), fin[hosts[0]], int(hosts[0])))
    geo_fin = np.array([g for g, _, _ in jur_of_geo], dtype=object)
    geo_jur = np.array([j for _, j, _ in jur_of_geo], dtype=object)
    geo_host = np.array([h for _, _, h in jur_of_geo], np.int64)
    all_fin = np.concatenate([fin.astype(object), geo_fin])
    typ = np.concatenate([np.where(est.kind == CHU, "1", "2"), np.full(len(geo_fin), "2")])
    ges = np.concatenate([np.where(est.group != "", fin, ""), geo_jur]).astype(object)
    kind = np.concatenate([est.kind, est.kind[geo_host]])
    dep = np.concatenate([est.dep, est.dep[geo_host]])
    name = np.concatenate(
        [est.name.astype(object), np.char.add("SITE ", geo_fin.astype(str)).astype(object)]
    )
    cat = np.array(["101", "355", "365", "109", "127", "292"], dtype=object)[kind]
    public = np.concatenate([est.public, est.public[geo_host]])
    cols = {
        "IDE_ETA_NUM": pa.array(all_fin, pa.string()),
        "IDE_ETA_NU8": pa.array([f[:8] for f in all_fin], pa.string()),
        "IDE_ETA_NOM": pa.array(name, pa.string()),
        "IDE_PSH_CAT": pa.array(cat, pa.string()),
        "IDE_PSH_STJ": pa.array(np.where(public, "01", "61").astype(object), pa.string()),
        "IDE_GES_NUM": pa.array(ges, pa.string()),
        "IDE_ETA_TYP": pa.array(typ.astype(object), pa.string()),
        "IDE_IMP_DPT": pa.array(world.territories.snds_dpt[dep], pa.string()),
    }
    return emit(writer, "BE_IDE_R", None, cols)


def drug_referential(ref: Any, writer: Any) -> int:
    """IR_PHA_R-like drug table: CIP13 ↔ ATC, names, box sizes and prices."""
    n = len(ref.drug_cip13)
    atc = ref.drug_atc.astype(str)
    cols = {
        "PHA_CIP_C13": pa.array(ref.drug_cip13, pa.string()),
        "PHA_PRS_IDE": pa.array(ref.drug_cip7, pa.string()),
        "PHA_MED_NOM": pa.array(ref.drug_presentation, pa.string()),
        "PHA_NOM_PA": pa.array(np.char.upper(ref.drug_inn.astype(str)).astype(object), pa.string()),
        "PHA_ATC_C07": pa.array(atc.astype(object), pa.string()),
        "PHA_ATC_L07": pa.array(
            np.char.upper(ref.drug_inn.astype(str)).astype(object), pa.string()
        ),
        "PHA_ATC_C03": pa.array(np.char.ljust(atc, 3).astype(object), pa.string()).cast(
            pa.string()
        ),
        "PHA_TAU_COD": pa.array(
            ref.drug_reimb_rate.astype(np.int64).astype(str).astype(object), pa.string()
        ),
        "PHA_PRI_UNI": pa.array(
            np.round(ref.drug_box_price, 2).astype(str).astype(object), pa.string()
        ),
        "PHA_UPC_NBR": pa.array(np.full(n, "1", dtype=object), pa.string()),
    }
    cols["PHA_ATC_C03"] = pc.utf8_slice_codeunits(cols["PHA_ATC_C03"], 0, 3)
    return emit(writer, "IR_PHA_R", None, cols)


def ghm_referential(ref: Any, writer: Any) -> int:
    """GHM referential: every root with its severity levels."""
    t = ref.ghm_roots_table
    roots = np.asarray(t.column("ghm_root").to_pylist(), dtype=object)
    labels = np.asarray(t.column("label").to_pylist(), dtype=object)
    cmd = np.asarray(t.column("cmd").to_pylist(), dtype=object)
    # the suffixes of each root (ATIH format: levels 1-4/J/T, A-D in CMD 14-15, Z unsegmented)
    suffixes = [ghm_suffixes(str(root)) for root in roots]
    r = np.repeat(np.arange(len(roots)), [len(x) for x in suffixes])
    lev = np.array([x for xs in suffixes for x in xs], dtype=object)
    codes = np.char.add(roots[r].astype(str), lev.astype(str)).astype(object)
    # sessions of inter-establishment services (level Z, CMD 28) not already listed, then the
    # error group
    new_sess = [g for g in SESSION_GHM if g not in set(codes.tolist())]
    sess = np.array(new_sess, dtype=object)
    sess_lib = np.array([SESSION_GHM[g][1] for g in new_sess], dtype=object)
    cols = {
        "GHM_COD": pa.array(np.concatenate([codes, sess, [GHM_ABORTION, "90Z00Z"]]), pa.string()),
        "GHM_LIB": pa.array(
            np.concatenate(
                [
                    labels[r],
                    sess_lib,
                    ["Interruptions volontaires de grossesse"],
                    ["Erreur de groupage"],
                ]
            ),
            pa.string(),
        ),
        "CMD_COD": pa.array(
            np.concatenate([cmd[r], ["28"] * len(sess), ["14", "90"]]), pa.string()
        ),
    }
    return emit(writer, "XX_GHM_R", None, cols)


def copy_nomenclatures(out_dir: Path) -> dict[str, int]:
    """Copy the vendored SNDS nomenclature CSVs, unchanged, into the raw export."""
    base = resources.files("sndslab.registry").joinpath("nomenclatures")
    sizes: dict[str, int] = {}
    for rel in EXPORTED_NOMENCLATURES:
        src = base.joinpath(f"{rel}.csv")
        name = rel.split("/")[1]
        dest = out_dir / f"{name}.csv"
        with resources.as_file(src) as path:
            shutil.copyfile(path, dest)
        sizes[dest.name] = dest.stat().st_size
    return sizes
