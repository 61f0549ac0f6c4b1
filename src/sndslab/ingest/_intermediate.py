"""Intermediate tables (``lake/int/<name>.parquet``): kept rows, joined, with ``person_id``.

Read the kept rows of :func:`sndslab.ingest._rules.apply_rules` (``int/clean/<TABLE>``) and the
identity tables of :func:`sndslab.ingest._identity.resolve_persons`. English column names from
here on. Grains ("One row per …"):

- ``dcir_prestations``: one row per kept ER_PRS_F row, with ``person_id``.
- ``dcir_pharmacy`` / ``dcir_acts`` / ``dcir_biology`` / ``dcir_ucd``: one row per kept
  ER_PHA_F / ER_CAM_F / ER_BIO_F / ER_UCD_F row, joined to its prestation on the 9 DCIR keys
  (person, care date, executor, prescriber…). Satellite rows never multiply: the prestation
  side is unique on the 9 keys.
- ``mco_stays``: one row per kept MCO stay (T_MCOaaB ⋈ T_MCOaaC on ETA_NUM, RSA_NUM, year).
- ``mco_diagnoses``: one row per (stay, code, role) with role ∈ DP, DR (stay), DAS (T_MCOaaD),
  UM_DP, UM_DR (T_MCOaaUM); the sources are stacked (UNION ALL), never joined to each other,
  so there is no DP × DAS × act product (SCALPEL central table + stacked satellites,
  scalpel3.md §2.3). Rows = DP + DR + DAS + UM_DP + UM_DR non-null codes.
- ``mco_acts``: one row per kept T_MCOaaA row (CCAM act of a stay).
- ``ace_visits``: one row per kept ACE bill line stacked from FCSTC (fees), FBSTC (packages)
  and FMSTC (CCAM acts), with the visit (FASTC ⋈ CSTC) columns and ``person_id``.
- ``ssr_stays`` / ``had_stays`` / ``rip_stays``: one row per kept stay (SSR: B weeks
  aggregated per ETA_NUM, RHA_NUM).
- ``ald``: one row per kept IR_IMB_R exemption (end sentinel already NULL).
- ``deaths``: one row per KI_CCI_R certificate, ``person_id`` through BEN_IDT_ANO.
- ``practitioners``: one row per DA_PRA_R row; ``establishments``: one row per BE_IDE_R row.

PMSI stays carry ``link_status`` (``linked``, ``twin_resolved``, ``ambiguous_twin``,
``no_person_key``) from :func:`sndslab.ingest._identity.link_pmsi`. Join-loss metrics are
returned by :func:`join_loss`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sndslab.ingest._identity import link_pmsi
from sndslab.ingest._rules import DCIR_KEYS

__all__ = ["INT_TABLES", "build_intermediate", "join_loss"]

INT_TABLES = (
    "dcir_prestations",
    "dcir_pharmacy",
    "dcir_acts",
    "dcir_biology",
    "dcir_ucd",
    "mco_stays",
    "mco_diagnoses",
    "mco_acts",
    "ace_visits",
    "ssr_stays",
    "had_stays",
    "rip_stays",
    "ald",
    "deaths",
    "practitioners",
    "establishments",
)

_K = ", ".join(DCIR_KEYS)


def _p(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class _Ctx:
    def __init__(self, con: Any, base: Path) -> None:
        self.con = con
        self.base = base
        self.keys = base / "person_keys.parquet"

    def has(self, *tables: str) -> bool:
        return all(any((self.base / "clean" / t).glob("*.parquet")) for t in tables)

    def t(self, table: str) -> str:
        return (
            f"read_parquet({_p(self.base / 'clean' / table / '*.parquet')}, union_by_name = true)"
        )

    def write(self, name: str, sql: str) -> int:
        path = self.base / f"{name}.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        self.con.execute(f"COPY ({sql}) TO {_p(tmp)} (FORMAT PARQUET)")
        tmp.replace(path)
        return int(self.con.execute(f"SELECT count(*) FROM read_parquet({_p(path)})").fetchone()[0])


def _dcir(c: _Ctx, out: dict[str, int]) -> None:
    if not c.has("ER_PRS_F"):
        return
    # streamed straight to Parquet (ER_PRS_F is the widest and largest table: never held whole)
    out["dcir_prestations"] = c.write(
        "dcir_prestations",
        f"""SELECT k.person_id, p.* FROM {c.t("ER_PRS_F")} p
        LEFT JOIN read_parquet({_p(c.keys)}) k
          ON p.BEN_NIR_PSA = k.ben_nir_psa AND p.BEN_RNG_GEM = k.ben_rng_gem""",
    )
    prestations = f"read_parquet({_p(c.base / 'dcir_prestations.parquet')})"
    # one prestation row per 9 keys (the keys are unique; any_value guards against blow-up)
    c.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE int_prs_k AS
        SELECT {_K}, any_value(person_id) AS person_id, any_value(EXE_SOI_DTD) AS care_date,
               any_value(EXE_SOI_DTF) AS care_end, any_value(PRS_NAT_REF) AS nature,
               any_value(PFS_EXE_NUM) AS executor_id, any_value(PFS_PRE_NUM) AS prescriber_id,
               any_value(PSE_SPE_COD) AS executor_specialty,
               any_value(PSP_SPE_COD) AS prescriber_specialty,
               any_value(PRE_PRE_DTD) AS prescription_date
        FROM {prestations} GROUP BY ALL"""
    )
    sats = {
        "dcir_pharmacy": (
            "ER_PHA_F",
            "s.PHA_PRS_C13 AS cip13, s.PHA_PRS_IDE AS cip7, s.PHA_ACT_QSN AS boxes, "
            "s.PHA_ACT_PRU AS unit_price",
        ),
        "dcir_acts": ("ER_CAM_F", "s.CAM_PRS_IDE AS ccam_code, s.CAM_ACT_COD AS activity"),
        "dcir_biology": ("ER_BIO_F", "s.BIO_PRS_IDE AS nabm_code, s.BIO_ACT_QSN AS quantity"),
        "dcir_ucd": ("ER_UCD_F", "s.UCD_UCD_COD AS ucd_code, s.UCD_DLV_NBR AS units"),
    }
    on = " AND ".join(f"s.{k} = p.{k}" for k in DCIR_KEYS)
    for name, (table, cols) in sats.items():
        if c.has(table):
            out[name] = c.write(
                name,
                f"""SELECT p.person_id, p.care_date, p.care_end, p.nature, p.executor_id,
                    p.prescriber_id, p.executor_specialty, p.prescriber_specialty,
                    p.prescription_date, {cols}, s.*
                FROM {c.t(table)} s JOIN int_prs_k p ON {on}""",
            )


def _stay_year(year_col: str = "_year") -> str:
    return year_col


def _mco(c: _Ctx, out: dict[str, int]) -> None:
    if not c.has("T_MCOaaB", "T_MCOaaC"):
        return
    rel = f"""(SELECT b.ETA_NUM AS ETA_NUM, b.RSA_NUM AS RSA_NUM, b._year AS _year,
                 cc.NIR_ANO_17, b.COD_SEX, b.AGE_ANN, cc.EXE_SOI_DTD AS entry_date,
                 cc.EXE_SOI_DTF AS exit_date, b.DGN_PAL AS dp, b.DGN_REL AS dr,
                 b.GRG_GHM AS ghm, b.ENT_MOD AS entry_mode, b.SOR_MOD AS exit_mode,
                 b.SEJ_NBJ AS length_of_stay, b.SOR_ANN AS exit_year, b.SOR_MOI AS exit_month
          FROM {c.t("T_MCOaaB")} b JOIN {c.t("T_MCOaaC")} cc
            ON b.ETA_NUM = cc.ETA_NUM AND b.RSA_NUM = cc.RSA_NUM AND b._year = cc._year)"""
    c.con.execute(
        "CREATE OR REPLACE TEMP TABLE int_mco AS "
        + link_pmsi(c.con, rel, c.keys, year="_year", stay_year="year(r.entry_date)")
    )
    out["mco_stays"] = c.write("mco_stays", "SELECT * FROM int_mco")
    key = "s.ETA_NUM, s.RSA_NUM, s._year, s.person_id"
    parts = [
        f"SELECT {key}, s.dp AS code, 'DP' AS role FROM int_mco s WHERE s.dp IS NOT NULL",
        f"SELECT {key}, s.dr, 'DR' FROM int_mco s WHERE s.dr IS NOT NULL",
    ]
    on = "s.ETA_NUM = x.ETA_NUM AND s.RSA_NUM = x.RSA_NUM AND s._year = x._year"
    if c.has("T_MCOaaD"):
        parts.append(
            f"SELECT {key}, x.ASS_DGN, 'DAS' FROM {c.t('T_MCOaaD')} x JOIN int_mco s ON {on} "
            "WHERE x.ASS_DGN IS NOT NULL"
        )
    if c.has("T_MCOaaUM"):
        for col, role in (("DGN_PAL", "UM_DP"), ("DGN_REL", "UM_DR")):
            parts.append(
                f"SELECT {key}, x.{col}, '{role}' FROM {c.t('T_MCOaaUM')} x JOIN int_mco s "
                f"ON {on} WHERE x.{col} IS NOT NULL"
            )
    out["mco_diagnoses"] = c.write("mco_diagnoses", " UNION ALL ".join(parts))
    if c.has("T_MCOaaA"):
        out["mco_acts"] = c.write(
            "mco_acts",
            f"""SELECT s.person_id, s.entry_date, x.CDC_ACT AS ccam_code,
                x.ENT_DAT_DEL AS days_after_entry, x.* FROM {c.t("T_MCOaaA")} x
                JOIN int_mco s ON {on}""",
        )


def _ace(c: _Ctx, out: dict[str, int]) -> None:
    if not c.has("T_MCOaaFASTC", "T_MCOaaCSTC"):
        return
    rel = f"""(SELECT f.ETA_NUM AS ETA_NUM, f.SEQ_NUM AS SEQ_NUM, f._year AS _year,
                 cs.NIR_ANO_17, f.COD_SEX, f.AGE_ANN, cs.EXE_SOI_DTD AS visit_date
          FROM {c.t("T_MCOaaFASTC")} f JOIN {c.t("T_MCOaaCSTC")} cs
            ON f.ETA_NUM = cs.ETA_NUM AND f.SEQ_NUM = cs.SEQ_NUM AND f._year = cs._year)"""
    c.con.execute(
        "CREATE OR REPLACE TEMP TABLE int_ace AS "
        + link_pmsi(c.con, rel, c.keys, year="_year", stay_year="year(r.visit_date)")
    )
    on = "v.ETA_NUM = x.ETA_NUM AND v.SEQ_NUM = x.SEQ_NUM AND v._year = x._year"
    parts = []
    for table, code, kind in (
        ("T_MCOaaFCSTC", "ACT_COD", "fee"),
        ("T_MCOaaFBSTC", "ACT_COD", "package"),
        ("T_MCOaaFMSTC", "CCAM_COD", "ccam_act"),
    ):
        if c.has(table):
            parts.append(
                f"SELECT v.*, '{kind}' AS line_kind, x.{code} AS code FROM {c.t(table)} x "
                f"JOIN int_ace v ON {on}"
            )
    if parts:
        out["ace_visits"] = c.write("ace_visits", " UNION ALL ".join(parts))


def _other_stays(c: _Ctx, out: dict[str, int]) -> None:
    specs = {
        "ssr_stays": ("T_SSRaaB", "T_SSRaaC", ("ETA_NUM", "RHA_NUM")),
        "had_stays": ("T_HADaaB", "T_HADaaC", ("ETA_NUM_EPMSI", "RHAD_NUM")),
        "rip_stays": ("T_RIPaaRSA", "T_RIPaaC", ("ETA_NUM_EPMSI", "RIP_NUM")),
    }
    for name, (main, link, key) in specs.items():
        if not c.has(main, link):
            continue
        k = ", ".join(key)
        on = " AND ".join(f"b.{x} = l.{x}" for x in (*key, "_year"))
        rel = f"""(SELECT l.*, b.COD_SEX, b.AGE_ANN, b.n_rows
              FROM (SELECT {k}, _year, any_value(COD_SEX) AS COD_SEX,
                           min(AGE_ANN) AS AGE_ANN, count(*) AS n_rows
                    FROM {c.t(main)} GROUP BY ALL) b
              JOIN (SELECT {k}, _year, any_value(NIR_ANO_17) AS NIR_ANO_17,
                           min(EXE_SOI_DTD) AS entry_date, max(EXE_SOI_DTF) AS exit_date
                    FROM {c.t(link)} GROUP BY ALL) l ON {on})"""
        out[name] = c.write(
            name, link_pmsi(c.con, rel, c.keys, year="_year", stay_year="year(r.entry_date)")
        )


def _referentials(c: _Ctx, out: dict[str, int]) -> None:
    keys = f"read_parquet({_p(c.keys)})"
    if c.has("IR_IMB_R"):
        out["ald"] = c.write(
            "ald",
            f"""SELECT k.person_id, i.IMB_ALD_NUM AS ald_number, i.MED_MTF_COD AS icd10,
                i.IMB_ALD_DTD AS start_date, i.IMB_ALD_DTF AS end_date, i.*
            FROM {c.t("IR_IMB_R")} i LEFT JOIN {keys} k
              ON i.BEN_NIR_PSA = k.ben_nir_psa AND i.BEN_RNG_GEM = k.ben_rng_gem""",
        )
    if c.has("KI_CCI_R"):
        out["deaths"] = c.write(
            "deaths",
            f"""SELECT p.person_id, d.BEN_DCD_DTE AS death_date, d.DCD_CIM_COD AS cause_icd10, d.*
            FROM {c.t("KI_CCI_R")} d LEFT JOIN
              (SELECT ben_idt_ano, any_value(person_id) AS person_id
               FROM read_parquet({_p(c.base / "persons.parquet")}) GROUP BY ALL) p
              ON d.BEN_IDT_ANO = p.ben_idt_ano""",
        )
    if c.has("DA_PRA_R"):
        out["practitioners"] = c.write("practitioners", f"SELECT * FROM {c.t('DA_PRA_R')}")
    if c.has("BE_IDE_R"):
        out["establishments"] = c.write("establishments", f"SELECT * FROM {c.t('BE_IDE_R')}")


def build_intermediate(con: Any, lake: Path, *, out: Path | None = None) -> dict[str, int]:
    """Write the ``int/`` tables (see the module docstring); returns rows per table.

    ``out`` (default ``lake/int``) must hold ``clean/`` and the identity tables.
    """
    base = Path(lake) / "int" if out is None else Path(out)
    c = _Ctx(con, base)
    rows: dict[str, int] = {}
    _dcir(c, rows)
    _mco(c, rows)
    _ace(c, rows)
    _other_stays(c, rows)
    _referentials(c, rows)
    return rows


def join_loss(con: Any, lake: Path, *, out: Path | None = None) -> dict[str, float]:
    """Join-loss metrics (shares in [0, 1]) computed on the ``int/`` and ``clean/`` tables."""
    base = Path(lake) / "int" if out is None else Path(out)
    c = _Ctx(con, base)
    m: dict[str, float] = {}

    def share(sql: str) -> float:
        num, den = con.execute(sql).fetchone()
        return float(num) / den if den else 0.0

    if (base / "dcir_prestations.parquet").exists():
        m["dcir_prestations_without_person"] = share(
            f"SELECT count(*) FILTER (WHERE person_id IS NULL), count(*) "
            f"FROM read_parquet({_p(base / 'dcir_prestations.parquet')})"
        )
    for table, name in (("ER_PHA_F", "dcir_pharmacy"), ("ER_CAM_F", "dcir_acts")):
        if c.has(table) and (base / f"{name}.parquet").exists():
            share_sql = (
                f"SELECT (SELECT count(*) FROM {c.t(table)}) - "
                f"(SELECT count(*) FROM read_parquet({_p(base / f'{name}.parquet')})), "
                f"(SELECT count(*) FROM {c.t(table)})"
            )
            m[f"{table.lower()}_rows_without_prestation"] = share(share_sql)
    for name in ("mco_stays", "ssr_stays", "had_stays", "rip_stays"):
        path = base / f"{name}.parquet"
        if path.exists():
            for status in ("no_person_key", "ambiguous_twin"):
                m[f"{name}_{status}"] = share(
                    f"SELECT count(*) FILTER (WHERE link_status = '{status}'), count(*) "
                    f"FROM read_parquet({_p(path)})"
                )
    if (base / "deaths.parquet").exists():
        m["deaths_without_person"] = share(
            f"SELECT count(*) FILTER (WHERE person_id IS NULL), count(*) "
            f"FROM read_parquet({_p(base / 'deaths.parquet')})"
        )
    return m
