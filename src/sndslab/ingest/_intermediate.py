"""Intermediate tables (``int.<name>``): kept rows, joined, with ``person_id``.

Written into the ``int`` generation being built (:func:`sndslab.lake.write_generation`), from
the kept rows of :func:`sndslab.ingest._rules.apply_rules` (internal datasets
``clean__<TABLE>`` of the same generation) and the identity tables of
:func:`sndslab.ingest._identity.resolve_persons`. English column names from here on; every
table is validated against its contract (``sndslab/lake/tables/int/<name>.yaml``) when
written. Grains ("One row per …"):

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
- ``ssr_diagnoses``: one row per distinct (SSR stay, code, role), role ∈ DP (T_SSRaaB.MOR_PRP),
  DR (T_SSRaaB.ETL_AFF), DAS (T_SSRaaD.DGN_COD), with the stay's dates and ``person_id``.
- ``ssr_acts``: one row per kept T_SSRaaCCAM (``kind`` ccam) or T_SSRaaCSARR (``kind`` csarr)
  row of a stay of ``ssr_stays``.
- ``had_diagnoses``: one row per distinct (HAD stay, code, role), role ∈ DP (T_HADaaB.DGN_PAL),
  DAS (T_HADaaD.DGN_ASS); ``had_acts``: one row per kept T_HADaaA row of a stay of
  ``had_stays``.
- ``rip_diagnoses``: one row per distinct (RIM-P stay, code, role), role DP
  (T_RIPaaRSA.DGN_PAL).
- ``death_causes``: one row per kept KI_ECD_R line, ``person_id`` through BEN_IDT_ANO.
- ``ref_<table>``: one row per kept row of a staged referential (registry product
  REFERENTIEL, e.g. ``ref_ir_pha_r``), its staged columns as they are.

PMSI stays carry ``link_status`` (``linked``, ``twin_resolved``, ``ambiguous_twin``,
``incoherent``, ``no_person_key``) from :func:`sndslab.ingest._identity.link_pmsi`. Join-loss
metrics are returned by :func:`join_loss`.
"""

from __future__ import annotations

from collections.abc import Callable

from sndslab.engines import Connection
from sndslab.ingest._identity import link_pmsi
from sndslab.ingest._rules import DCIR_KEYS, clean_name, stg_tables
from sndslab.lake import GenerationWriter, LakePaths
from sndslab.registry import (
    DCIR_PRESTATION_TABLE,
    dcir_satellites,
    get_table,
    list_nomenclatures,
    list_tables,
    pmsi_families,
)

__all__ = ["INT_TABLES", "build_intermediate", "join_loss", "ref_name", "ref_tables"]

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
    "ssr_diagnoses",
    "ssr_acts",
    "had_stays",
    "had_diagnoses",
    "had_acts",
    "rip_stays",
    "rip_diagnoses",
    "ald",
    "deaths",
    "death_causes",
    "practitioners",
    "establishments",
)

_K = ", ".join(DCIR_KEYS)


def ref_name(table: str) -> str:
    """Name of the int table of a staged referential: ``IR_PHA_R`` → ``ref_ir_pha_r``."""
    return f"ref_{table.lower()}"


def ref_tables(tables: list[str]) -> list[str]:
    """The referentials among ``tables`` (registry product REFERENTIEL, or a nomenclature)."""
    nomenclatures = set(list_nomenclatures())
    return [t for t in tables if get_table(t).product == "REFERENTIEL" or t in nomenclatures]


class _Ctx:
    """The connection and the generation being written, with shorthands for the stages."""

    def __init__(self, con: Connection, writer: GenerationWriter) -> None:
        self.con = con
        self.w = writer
        self.reads: set[str] = set()

    def has(self, *tables: str) -> bool:
        """Whether every staged table has kept rows written in this generation."""
        return all(self.w.has(clean_name(t)) for t in tables)

    def t(self, table: str) -> str:
        """SQL relation of the kept rows of a staged table (recorded in ``reads``)."""
        self.reads.add(table)
        return self.w.relation(clean_name(table))

    def r(self, name: str) -> str:
        """SQL relation of an int table written in this generation."""
        return self.w.relation(name)

    @property
    def keys(self) -> str:
        return self.w.relation("person_keys")

    def write(self, name: str, sql: str) -> int:
        return self.w.write(name, sql)


def _dcir(c: _Ctx, out: dict[str, int]) -> None:
    if not c.has("ER_PRS_F"):
        return
    # streamed straight to Parquet (ER_PRS_F is the widest and largest table: never held whole)
    out["dcir_prestations"] = c.write(
        "dcir_prestations",
        f"""SELECT k.person_id, p.* FROM {c.t("ER_PRS_F")} p
        LEFT JOIN {c.keys} k
          ON p.BEN_NIR_PSA = k.ben_nir_psa AND p.BEN_RNG_GEM = k.ben_rng_gem""",
    )
    # one prestation row per 9 keys (the keys are unique; any_value guards against blow-up)
    c.con.create_table(
        "int_prs_k",
        f"""SELECT {_K}, any_value(person_id) AS person_id, any_value(EXE_SOI_DTD) AS care_date,
               any_value(EXE_SOI_DTF) AS care_end, any_value(PRS_NAT_REF) AS nature,
               any_value(PFS_EXE_NUM) AS executor_id, any_value(PFS_PRE_NUM) AS prescriber_id,
               any_value(PSE_SPE_COD) AS executor_specialty,
               any_value(PSP_SPE_COD) AS prescriber_specialty,
               any_value(PRE_PRE_DTD) AS prescription_date
        FROM {c.r("dcir_prestations")} GROUP BY ALL""",
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
    c.con.drop("int_prs_k")


def _mco(c: _Ctx, out: dict[str, int]) -> None:
    if not c.has("T_MCOaaB", "T_MCOaaC"):
        return
    rel = f"""(SELECT b.ETA_NUM AS ETA_NUM, b.RSA_NUM AS RSA_NUM, b._year AS _year,
                 cc.NIR_ANO_17, b.COD_SEX, b.AGE_ANN, cc.EXE_SOI_DTD AS entry_date,
                 cc.EXE_SOI_DTF AS exit_date, b.DGN_PAL AS dp, b.DGN_REL AS dr,
                 b.GRG_GHM AS ghm, b.ENT_MOD AS entry_mode, b.ENT_PRV AS entry_provenance,
                 b.SOR_MOD AS exit_mode, b.SOR_DES AS exit_destination,
                 b.SEJ_NBJ AS length_of_stay, b.SOR_ANN AS exit_year, b.SOR_MOI AS exit_month
          FROM {c.t("T_MCOaaB")} b JOIN {c.t("T_MCOaaC")} cc
            ON b.ETA_NUM = cc.ETA_NUM AND b.RSA_NUM = cc.RSA_NUM AND b._year = cc._year)"""
    out["mco_stays"] = c.write("mco_stays", link_pmsi(rel, c.keys, stay_year="year(r.entry_date)"))
    stays = c.r("mco_stays")
    key = "s.ETA_NUM, s.RSA_NUM, s._year, s.person_id"
    parts = [
        f"SELECT {key}, s.dp AS code, 'DP' AS role FROM {stays} s WHERE s.dp IS NOT NULL",
        f"SELECT {key}, s.dr, 'DR' FROM {stays} s WHERE s.dr IS NOT NULL",
    ]
    on = "s.ETA_NUM = x.ETA_NUM AND s.RSA_NUM = x.RSA_NUM AND s._year = x._year"
    if c.has("T_MCOaaD"):
        parts.append(
            f"SELECT {key}, x.ASS_DGN, 'DAS' FROM {c.t('T_MCOaaD')} x JOIN {stays} s ON {on} "
            "WHERE x.ASS_DGN IS NOT NULL"
        )
    if c.has("T_MCOaaUM"):
        for col, role in (("DGN_PAL", "UM_DP"), ("DGN_REL", "UM_DR")):
            parts.append(
                f"SELECT {key}, x.{col}, '{role}' FROM {c.t('T_MCOaaUM')} x JOIN {stays} s "
                f"ON {on} WHERE x.{col} IS NOT NULL"
            )
    out["mco_diagnoses"] = c.write("mco_diagnoses", " UNION ALL ".join(parts))
    if c.has("T_MCOaaA"):
        out["mco_acts"] = c.write(
            "mco_acts",
            f"""SELECT s.person_id, s.entry_date, x.CDC_ACT AS ccam_code,
                x.ENT_DAT_DEL AS days_after_entry, x.* FROM {c.t("T_MCOaaA")} x
                JOIN {stays} s ON {on}""",
        )


def _ace(c: _Ctx, out: dict[str, int]) -> None:
    if not c.has("T_MCOaaFASTC", "T_MCOaaCSTC"):
        return
    rel = f"""(SELECT f.ETA_NUM AS ETA_NUM, f.SEQ_NUM AS SEQ_NUM, f._year AS _year,
                 cs.NIR_ANO_17, f.COD_SEX, f.AGE_ANN, cs.EXE_SOI_DTD AS visit_date
          FROM {c.t("T_MCOaaFASTC")} f JOIN {c.t("T_MCOaaCSTC")} cs
            ON f.ETA_NUM = cs.ETA_NUM AND f.SEQ_NUM = cs.SEQ_NUM AND f._year = cs._year)"""
    c.con.create_table("int_ace", link_pmsi(rel, c.keys, stay_year="year(r.visit_date)"))
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
    c.con.drop("int_ace")


#: Stay tables of the other PMSI products: (main table, link table, stay key).
OTHER_STAYS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ssr_stays": ("T_SSRaaB", "T_SSRaaC", ("ETA_NUM", "RHA_NUM")),
    "had_stays": ("T_HADaaB", "T_HADaaC", ("ETA_NUM_EPMSI", "RHAD_NUM")),
    "rip_stays": ("T_RIPaaRSA", "T_RIPaaC", ("ETA_NUM_EPMSI", "RIP_NUM")),
}


def _other_stays(c: _Ctx, out: dict[str, int]) -> None:
    for name, (main, link, key) in OTHER_STAYS.items():
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
        out[name] = c.write(name, link_pmsi(rel, c.keys, stay_year="year(r.entry_date)"))


#: Diagnoses of the other PMSI products: stay table -> (int table, [(source, column, role)]).
OTHER_DIAGNOSES: dict[str, tuple[str, tuple[tuple[str, str, str], ...]]] = {
    "ssr_stays": (
        "ssr_diagnoses",
        (
            ("T_SSRaaB", "MOR_PRP", "DP"),
            ("T_SSRaaB", "ETL_AFF", "DR"),
            ("T_SSRaaD", "DGN_COD", "DAS"),
        ),
    ),
    "had_stays": ("had_diagnoses", (("T_HADaaB", "DGN_PAL", "DP"), ("T_HADaaD", "DGN_ASS", "DAS"))),
    "rip_stays": ("rip_diagnoses", (("T_RIPaaRSA", "DGN_PAL", "DP"),)),
}


def _other_diagnoses(c: _Ctx, out: dict[str, int]) -> None:
    """``ssr_diagnoses``, ``had_diagnoses``, ``rip_diagnoses``: distinct (stay, code, role)."""
    for stays, (name, sources) in OTHER_DIAGNOSES.items():
        if not c.w.has(stays):
            continue
        key = (*OTHER_STAYS[stays][2], "_year")
        k = ", ".join(key)
        parts = [
            f"SELECT {k}, CAST({col} AS VARCHAR) AS code, '{role}' AS role FROM {c.t(table)} "
            f"WHERE {col} IS NOT NULL"
            for table, col, role in sources
            if c.has(table)
        ]
        if not parts:
            continue
        on = " AND ".join(f"s.{x} = d.{x}" for x in key)
        out[name] = c.write(
            name,
            f"""SELECT DISTINCT {", ".join(f"s.{x}" for x in key)}, s.person_id, d.code, d.role,
                s.entry_date, s.exit_date
            FROM ({" UNION ALL ".join(parts)}) d JOIN {c.r(stays)} s ON {on}""",
        )


def _act_part(c: _Ctx, stays: str, table: str, key: tuple[str, ...], select: str) -> str:
    on = " AND ".join(f"s.{x} = a.{x}" for x in key)
    cols = ", ".join(f"a.{x}" for x in key)
    return (
        f"SELECT {cols}, s.person_id, s.entry_date, {select}, a._source_file, a._source_line "
        f"FROM {c.t(table)} a JOIN {c.r(stays)} s ON {on}"
    )


def _other_acts(c: _Ctx, out: dict[str, int]) -> None:
    """``ssr_acts`` (CCAM and CSARR lines) and ``had_acts`` (T_HADaaA lines) of the stays."""
    if c.w.has("ssr_stays"):
        key = ("ETA_NUM", "RHA_NUM", "_year")
        specs = {
            "T_SSRaaCCAM": "'ccam' AS kind, CAST(a.CCAM_ACT AS VARCHAR) AS code, "
            "CAST(a.CCAM_NBR_REA AS DOUBLE) AS quantity, "
            "CAST(a.CCAM_COD_ACT AS VARCHAR) AS modifier",
            "T_SSRaaCSARR": "'csarr' AS kind, CAST(a.CSARR_COD AS VARCHAR) AS code, "
            "CAST(a.NBR_CSARR AS DOUBLE) AS quantity, CAST(NULL AS VARCHAR) AS modifier",
        }
        parts = [_act_part(c, "ssr_stays", t, key, sql) for t, sql in specs.items() if c.has(t)]
        if parts:
            out["ssr_acts"] = c.write("ssr_acts", " UNION ALL ".join(parts))
    if c.w.has("had_stays") and c.has("T_HADaaA"):
        select = (
            "CAST(a.CCAM_COD AS VARCHAR) AS code, CAST(a.REAL_NBR AS DOUBLE) AS quantity, "
            "CAST(a.ACT_COD AS VARCHAR) AS modifier"
        )
        key = ("ETA_NUM_EPMSI", "RHAD_NUM", "_year")
        out["had_acts"] = c.write("had_acts", _act_part(c, "had_stays", "T_HADaaA", key, select))


def _persons_by_idt(c: _Ctx) -> str:
    return (
        f"(SELECT ben_idt_ano, any_value(person_id) AS person_id FROM {c.r('persons')} "
        "GROUP BY ALL)"
    )


def _referentials(c: _Ctx, out: dict[str, int]) -> None:
    if c.has("IR_IMB_R"):
        out["ald"] = c.write(
            "ald",
            f"""SELECT k.person_id, i.IMB_ALD_NUM AS ald_number, i.MED_MTF_COD AS icd10,
                i.IMB_ALD_DTD AS start_date, i.IMB_ALD_DTF AS end_date, i.*
            FROM {c.t("IR_IMB_R")} i LEFT JOIN {c.keys} k
              ON i.BEN_NIR_PSA = k.ben_nir_psa AND i.BEN_RNG_GEM = k.ben_rng_gem""",
        )
    if c.has("KI_CCI_R"):
        out["deaths"] = c.write(
            "deaths",
            f"""SELECT p.person_id, d.BEN_DCD_DTE AS death_date, d.DCD_CIM_COD AS cause_icd10, d.*
            FROM {c.t("KI_CCI_R")} d LEFT JOIN {_persons_by_idt(c)} p
              ON d.BEN_IDT_ANO = p.ben_idt_ano""",
        )
    if c.has("KI_ECD_R"):
        out["death_causes"] = c.write(
            "death_causes",
            f"""SELECT p.person_id, d.BEN_DCD_DTE AS death_date, d.ECD_CAU_RNG AS rank,
                d.ECD_CIM_COD AS icd10, d.*
            FROM {c.t("KI_ECD_R")} d LEFT JOIN {_persons_by_idt(c)} p
              ON d.BEN_IDT_ANO = p.ben_idt_ano""",
        )
    if c.has("DA_PRA_R"):
        out["practitioners"] = c.write("practitioners", f"SELECT * FROM {c.t('DA_PRA_R')}")
    if c.has("BE_IDE_R"):
        out["establishments"] = c.write("establishments", f"SELECT * FROM {c.t('BE_IDE_R')}")


def _nomenclatures(c: _Ctx, paths: LakePaths, out: dict[str, int]) -> None:
    """``ref_<table>``: the kept rows of every staged referential, as staged."""
    for table in ref_tables(stg_tables(paths)):
        if c.has(table):
            out[ref_name(table)] = c.write(ref_name(table), f"SELECT * FROM {c.t(table)}")


def _family(parent: str) -> set[str]:
    fam = pmsi_families()[parent]
    return {fam.parent, *fam.deciders, *fam.children}


#: The builders of the int tables, by group, with the staged tables each group may read and
#: whether it reads the identity tables. A group whose staged tables did not change (and, when
#: it links persons, whose identity did not change) is carried over by an incremental ingest.
#: ``tests/ingest/test_intermediate.py`` checks every read is declared here.
INT_GROUPS: tuple[tuple[str, tuple[Callable[[_Ctx, dict[str, int]], None], ...], bool], ...] = (
    ("dcir", (_dcir,), True),
    ("mco", (_mco,), True),
    ("ace", (_ace,), True),
    ("other_pmsi", (_other_stays, _other_diagnoses, _other_acts), True),
    ("referentials", (_referentials,), True),
)


def group_inputs(group: str) -> set[str]:
    """The staged tables an int group may read."""
    if group == "dcir":
        return {DCIR_PRESTATION_TABLE, *dcir_satellites()}
    if group == "mco":
        return _family("T_MCOaaB")
    if group == "ace":
        return _family("T_MCOaaFASTC")
    if group == "other_pmsi":
        return _family("T_SSRaaB") | _family("T_HADaaB") | _family("T_RIPaaRSA")
    if group == "referentials":
        return {"IR_IMB_R", "KI_CCI_R", "KI_ECD_R", "DA_PRA_R", "BE_IDE_R"}
    if group == "nomenclatures":
        return {t for t in list_tables() if get_table(t).product == "REFERENTIEL"}
    raise KeyError(group)


def build_intermediate(
    con: Connection,
    paths: LakePaths,
    writer: GenerationWriter,
    *,
    reusable: Callable[[str, set[str], bool], bool] | None = None,
) -> dict[str, int]:
    """Write the ``int`` tables (see the module docstring) into ``writer``'s generation, which
    must hold the kept rows (``clean__<TABLE>``) and the identity tables; rows per table.

    ``reusable(group, staged_inputs, links_persons)`` says whether a group of tables may be
    carried from the previous generation (incremental ingest); the tables each group wrote
    and the staged tables it read are recorded in ``writer.counts["int_groups"]``.
    """
    groups: dict[str, dict[str, list[str]]] = {}
    previous = writer.previous.counts.get("int_groups", {}) if writer.previous else {}
    rows: dict[str, int] = {}
    for name, builders, links in (*INT_GROUPS, ("nomenclatures", (), False)):
        before = set(rows)
        prev = previous.get(name)
        if prev is not None and reusable is not None and reusable(name, group_inputs(name), links):
            for table in prev["tables"]:
                if writer.carry(table):
                    rows[table] = writer.tables[table].rows
            groups[name] = {"tables": prev["tables"], "reads": prev["reads"], "carried": ["yes"]}
            continue
        c = _Ctx(con, writer)
        for build in builders:
            build(c, rows)
        if name == "nomenclatures":
            _nomenclatures(c, paths, rows)
        groups[name] = {"tables": sorted(set(rows) - before), "reads": sorted(c.reads)}
    writer.counts["int_groups"] = groups
    return rows


def join_loss(con: Connection, writer: GenerationWriter) -> dict[str, float]:
    """Join-loss metrics (shares in [0, 1]) of the ``int`` tables written by ``writer``."""
    m: dict[str, float] = {}

    def rows(name: str) -> int:
        return int(writer.tables[name].rows)

    def share(name: str, condition: str) -> float:
        total = rows(name)
        num = con.scalar(f"SELECT count(*) FROM {writer.relation(name)} WHERE {condition}")
        return float(num) / total if total else 0.0

    if writer.has("dcir_prestations"):
        m["dcir_prestations_without_person"] = share("dcir_prestations", "person_id IS NULL")
    for table, name in (("ER_PHA_F", "dcir_pharmacy"), ("ER_CAM_F", "dcir_acts")):
        if writer.has(clean_name(table)) and writer.has(name):
            den = rows(clean_name(table))
            m[f"{table.lower()}_rows_without_prestation"] = (den - rows(name)) / den if den else 0.0
    for name in ("mco_stays", "ssr_stays", "had_stays", "rip_stays"):
        if writer.has(name):
            for status in ("no_person_key", "ambiguous_twin", "incoherent"):
                m[f"{name}_{status}"] = share(name, f"link_status = '{status}'")
    if writer.has("deaths"):
        m["deaths_without_person"] = share("deaths", "person_id IS NULL")
    return m
