"""Derive the sndslab table registry from the public schema-snds (MPL-2.0).

Dev-time only: this is the one piece of code that reads the schema-snds snapshot. It writes

* ``src/sndslab/registry/tables/<NAME>.yaml``: one spec per supported table (PMSI tables keep
  their generic ``aa`` names, e.g. ``T_MCOaaB.yaml``), with one canonical type per column name
  across all tables (see :func:`canonical_type`);
* ``src/sndslab/registry/nomenclatures/<FOLDER>/<NAME>.csv|json``: the value lists the generator
  and ingestion need, copied byte for byte, with the schema-snds LICENSE and a NOTICE.md.

Re-running it reproduces every file byte for byte.

Usage::

    python tools/derive_registry.py [SCHEMA_SNDS_DIR] [--out SRC_REGISTRY_DIR]

``SCHEMA_SNDS_DIR`` defaults to ``../shared/reference/schema-snds`` (relative to the current
directory); ``--out`` defaults to ``src/sndslab/registry`` next to this script.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = Path("../shared/reference/schema-snds")
DEFAULT_OUT = ROOT / "src" / "sndslab" / "registry"

CANONICAL_TYPES = ("string", "integer", "number", "date", "datetime")

# --------------------------------------------------------------------------------------------
# Supported tables
# --------------------------------------------------------------------------------------------

#: Tables described by a file under ``schemas/``: name -> English grain sentence.
SCHEMA_TABLES: dict[str, str] = {
    "IR_BEN_R": "One row per beneficiary pseudonym (BEN_NIR_PSA, BEN_RNG_GEM), latest state.",
    "IR_IMB_R": "One row per medical exemption (ALD, occupational injury…) granted to a "
    "beneficiary, with its start and end dates.",
    "ER_PRS_F": "One row per DCIR prestation line (reimbursed item of a claim), keyed by the "
    "9 DCIR join keys.",
    "ER_PHA_F": "One row per coded community-pharmacy item (CIP13 presentation) of a "
    "prestation line.",
    "ER_CAM_F": "One row per coded CCAM act of a prestation line.",
    "ER_BIO_F": "One row per coded laboratory test (NABM code) of a prestation line.",
    "ER_UCD_F": "One row per coded UCD drug (hospital-dispensed or retroceded) of a "
    "prestation line.",
    "ER_ETE_F": "One row per prestation line performed in or billed by an establishment.",
    "DA_PRA_R": "One row per health professional (PFS_PFS_NUM) and processing period.",
    "BE_IDE_R": "One row per establishment FINESS number (juridical or geographic).",
    "T_MCOaaB": "One row per MCO hospital stay (RSA), keyed by ETA_NUM and RSA_NUM.",
    "T_MCOaaC": "One row per MCO stay: link to the patient pseudonym and chaining return codes.",
    "T_MCOaaD": "One row per associated diagnosis (DAS) of an MCO stay.",
    "T_MCOaaA": "One row per CCAM act performed during an MCO stay.",
    "T_MCOaaUM": "One row per passage in a medical unit (RUM) during an MCO stay.",
    "T_MCOaaE": "One row per establishment (ETA_NUM) sending MCO activity for the year.",
    "T_MCOaaCSTC": "One row per MCO outpatient bill (ACE): link to the patient pseudonym and "
    "chaining return codes.",
    "T_MCOaaFASTC": "One row per MCO outpatient bill (ACE) header, keyed by ETA_NUM and SEQ_NUM.",
    "T_MCOaaFBSTC": "One row per prestation line of an MCO outpatient bill (ACE).",
    "T_MCOaaFCSTC": "One row per fee (consultation, NGAP act) line of an MCO outpatient bill "
    "(ACE).",
    "T_MCOaaFMSTC": "One row per CCAM act line of an MCO outpatient bill (ACE).",
    "T_SSRaaB": "One row per weekly summary (RHS) of an SSR stay, keyed by ETA_NUM, RHA_NUM and "
    "RHS_NUM.",
    "T_SSRaaC": "One row per SSR stay: link to the patient pseudonym and chaining return codes.",
    "T_SSRaaD": "One row per associated diagnosis of an SSR weekly summary.",
    "T_SSRaaCCAM": "One row per CCAM act of an SSR weekly summary.",
    "T_SSRaaCSARR": "One row per CSARR rehabilitation act of an SSR weekly summary.",
    "T_HADaaB": "One row per HAD (hospital at home) sequence summary of a stay, keyed by "
    "ETA_NUM_EPMSI and RHAD_NUM.",
    "T_HADaaC": "One row per HAD stay: link to the patient pseudonym and chaining return codes.",
    "T_HADaaD": "One row per associated diagnosis of a HAD sub-sequence.",
    "T_HADaaA": "One row per act (CCAM) of a HAD sub-sequence.",
    "T_RIPaaRSA": "One row per psychiatric (RIM-P) inpatient sequence summary, keyed by "
    "ETA_NUM_EPMSI and RIP_NUM.",
    "T_RIPaaC": "One row per RIM-P stay: link to the patient pseudonym and chaining return codes.",
    "KI_CCI_R": "One row per death certificate (CépiDc), with the underlying cause of death.",
    "KI_ECD_R": "One row per cause of death listed on a death certificate (CépiDc).",
}

#: Referential tables described by a nomenclature JSON: name -> (folder, grain).
REFERENTIAL_TABLES: dict[str, tuple[str, str]] = {
    "IR_PHA_R": ("DREES", "One row per drug presentation (CIP13 code)."),
    "IR_NAT_V": ("ORAVAL", "One row per prestation nature code (PRS_NAT)."),
    "IR_SPE_V": ("ORAVAL", "One row per medical specialty code (PFS_SPE_COD)."),
    "IR_CIM_V": ("ORAVAL", "One row per ICD-10 code (CIM_COD)."),
    "IR_CCAM_V63": ("ATIH", "One row per CCAM act code (version 63)."),
    "IR_BIO_R": ("ORAREF", "One row per NABM laboratory test code (BIO_PRS_IDE)."),
    "NU_UCD_R": ("ORAREF", "One row per UCD code (hospital drug dispensing unit)."),
    "IR_DPT_V": ("ORAVAL", "One row per département code (GEO_DPT_COD), with its region."),
    "IR_ALD_V": ("ORAVAL", "One row per long-term illness (ALD) number (ALD_030_COD)."),
    "IR_GEO_V": (
        "ORAVAL",
        "One row per commune (GEO_DPT_COD, GEO_COM_COD), with its employment basin and "
        "health sector.",
    ),
}

#: Hand-written specs for tables with no public schema in the snapshot.
#: ORAVAL only has MS_GM7_V / MS_GM9_V (GHM classification versions 7 and 9, i.e. before 2009,
#: vendored below as MS_GM9_V); the current GHM lists (V11+, 2009 on) are not in the snapshot,
#: so XX_GHM_R is a sndslab spec whose content the generator provides.
HANDWRITTEN_TABLES: dict[str, dict[str, Any]] = {
    "XX_GHM_R": {
        "name": "XX_GHM_R",
        "product": "REFERENTIEL",
        "title": "Groupes homogènes de malades (GHM), spécification sndslab",
        "grain": "One row per GHM code (current ATIH classification).",
        "source": "sndslab (no public schema)",
        "note": "Nearest public list: indsante/schema-snds nomenclatures/ORAVAL/MS_GM9_V.csv "
        "(GHM classification v9, before 2009; vendored). Current GHM lists are not public here.",
        "columns": [
            ("GHM_COD", "string", "6", "Code GHM (ex. 05M09T)"),
            ("GHM_LIB", "string", None, "Libellé du GHM"),
            ("CMD_COD", "string", "2", "Catégorie majeure de diagnostic (CMD)"),
        ],
        "primary_key": ["GHM_COD"],
    },
}

PMSI_PREFIX = re.compile(r"^T_(MCO|SSR|HAD|RIP)aa(.+)$")

PRODUCTS = {
    "DCIR": "DCIR",
    "DCIR_DCIRS": "DCIR",
    "BENEFICIAIRE": "BENEFICIAIRE",
    "PMSI MCO": "PMSI MCO",
    "PMSI SSR": "PMSI SSR",
    "PMSI HAD": "PMSI HAD",
    "PMSI RIM-P": "PMSI RIM-P",
    "Causes de décès": "CEPIDC",
}

DCIR_KEYS = [
    "DCT_ORD_NUM",
    "FLX_DIS_DTD",
    "FLX_EMT_NUM",
    "FLX_EMT_ORD",
    "FLX_EMT_TYP",
    "FLX_TRT_DTD",
    "ORG_CLE_NUM",
    "PRS_ORD_NUM",
    "REM_TYP_AFF",
]

#: Foreign keys the schema misses: table -> list of (columns, ref_table, ref_columns).
#: Schema FKs towards tables outside the registry (T_MCOaaE is in; T_SSRaaE, T_HADaaE,
#: T_RIPaaFB, T_RIPaaR3A, IR_IBA_R are not) are dropped. "Code list" FKs (code -> referential)
#: document where a code is described; they do not promise referential integrity.
EXTRA_FKS: dict[str, list[tuple[list[str], str, list[str]]]] = {
    "ER_PRS_F": [
        (["PRS_NAT_REF"], "IR_NAT_V", ["PRS_NAT"]),
        (["PSE_SPE_COD"], "IR_SPE_V", ["PFS_SPE_COD"]),
        (["PSP_SPE_COD"], "IR_SPE_V", ["PFS_SPE_COD"]),
        (["BEN_RES_DPT"], "IR_DPT_V", ["GEO_DPT_COD"]),
    ],
    "ER_PHA_F": [(["PHA_PRS_C13"], "IR_PHA_R", ["PHA_CIP_C13"])],
    "ER_BIO_F": [(["BIO_PRS_IDE"], "IR_BIO_R", ["BIO_PRS_IDE"])],
    "ER_UCD_F": [(["UCD_UCD_COD"], "NU_UCD_R", ["UCD_UCD_COD"])],
    "ER_CAM_F": [(["CAM_PRS_IDE"], "IR_CCAM_V63", ["CAM_PRS_IDE_COD"])],
    "IR_IMB_R": [(["IMB_ALD_NUM"], "IR_ALD_V", ["ALD_030_COD"])],
    "T_MCOaaB": [(["GRG_GHM"], "XX_GHM_R", ["GHM_COD"])],
    "T_MCOaaD": [(["ETA_NUM", "RSA_NUM"], "T_MCOaaB", ["ETA_NUM", "RSA_NUM"])],
    "T_MCOaaA": [(["ETA_NUM", "RSA_NUM"], "T_MCOaaB", ["ETA_NUM", "RSA_NUM"])],
    "T_MCOaaUM": [(["ETA_NUM", "RSA_NUM"], "T_MCOaaB", ["ETA_NUM", "RSA_NUM"])],
    "T_MCOaaC": [(["ETA_NUM", "RSA_NUM"], "T_MCOaaB", ["ETA_NUM", "RSA_NUM"])],
    "T_MCOaaCSTC": [(["ETA_NUM", "SEQ_NUM"], "T_MCOaaFASTC", ["ETA_NUM", "SEQ_NUM"])],
    "T_MCOaaFBSTC": [(["ETA_NUM", "SEQ_NUM"], "T_MCOaaFASTC", ["ETA_NUM", "SEQ_NUM"])],
    "T_MCOaaFCSTC": [(["ETA_NUM", "SEQ_NUM"], "T_MCOaaFASTC", ["ETA_NUM", "SEQ_NUM"])],
    "T_MCOaaFMSTC": [(["ETA_NUM", "SEQ_NUM"], "T_MCOaaFASTC", ["ETA_NUM", "SEQ_NUM"])],
    "T_SSRaaC": [(["ETA_NUM", "RHA_NUM"], "T_SSRaaB", ["ETA_NUM", "RHA_NUM"])],
    "T_HADaaC": [(["ETA_NUM_EPMSI", "RHAD_NUM"], "T_HADaaB", ["ETA_NUM_EPMSI", "RHAD_NUM"])],
    "T_HADaaD": [(["ETA_NUM_EPMSI", "RHAD_NUM"], "T_HADaaB", ["ETA_NUM_EPMSI", "RHAD_NUM"])],
    "T_HADaaA": [(["ETA_NUM_EPMSI", "RHAD_NUM"], "T_HADaaB", ["ETA_NUM_EPMSI", "RHAD_NUM"])],
    "T_RIPaaC": [(["ETA_NUM_EPMSI", "RIP_NUM"], "T_RIPaaRSA", ["ETA_NUM_EPMSI", "RIP_NUM"])],
    # DCD_IDT_ENC: encrypted death-certificate identifier, present in both CépiDc tables.
    "KI_ECD_R": [(["DCD_IDT_ENC"], "KI_CCI_R", ["DCD_IDT_ENC"])],
}
for _sat in ("ER_PHA_F", "ER_CAM_F", "ER_BIO_F", "ER_UCD_F", "ER_ETE_F"):
    EXTRA_FKS.setdefault(_sat, []).insert(0, (DCIR_KEYS, "ER_PRS_F", DCIR_KEYS))

#: Nomenclatures vendored unchanged: (folder, name).
VENDORED_NOMENCLATURES: list[tuple[str, str]] = [
    ("ATIH", "CSARR"),
    ("ATIH", "IR_CCAM_V63"),
    ("ATIH", "IR_HAD_PEC_PAL"),
    ("DREES", "IR_PHA_R"),  # JSON only: the CSV is not in the snapshot
    ("ORAREF", "IR_BIO_R"),
    ("ORAREF", "NU_UCD_R"),
    ("ORAVAL", "IR_ACT_V"),
    ("ORAVAL", "IR_ALD_V"),
    ("ORAVAL", "IR_CAT_V"),
    ("ORAVAL", "IR_CIM_V"),
    ("ORAVAL", "IR_CMD_V"),
    ("ORAVAL", "IR_DEP_V"),
    ("ORAVAL", "IR_DPT_V"),
    ("ORAVAL", "IR_ETM_V"),
    ("ORAVAL", "IR_GEO_V"),
    ("ORAVAL", "IR_NAT_V"),
    ("ORAVAL", "IR_SEX_V"),
    ("ORAVAL", "IR_SGN_V"),
    ("ORAVAL", "IR_SPA_D"),
    ("ORAVAL", "IR_SPE_V"),
    ("ORAVAL", "MS_GM9_V"),
]

# --------------------------------------------------------------------------------------------
# Canonical types
# --------------------------------------------------------------------------------------------

#: Explicit decisions, checked first. Every entry says why.
TYPE_OVERRIDES: dict[str, str] = {
    # PMSI entry/exit dates are exported as ddMMyyyy strings; parsing is left to int/.
    "ENT_DAT": "string",
    "SOR_DAT": "string",
    # "year + month" fields (date, yearmonth or string(6) in the schema): kept as yyyyMM text.
    "ENT_AM": "string",
    "SOR_AM": "string",
    "EXE_SOI_AMF": "string",
    # date in some tables, datetime in PMSI C tables: a care date has no time of day.
    "EXE_SOI_DTD": "date",
    "EXE_SOI_DTF": "date",
    # CIP13 codes are 13-digit identifiers (integer in the schema): text, like every code.
    "PHA_PRS_C13": "string",
    "PHA_CIP_C13": "string",
    "PHA_CIP_UCD": "string",  # UCD code of the presentation
    "PHA_PRS_IDE": "string",  # old CIP7 code
    "PHA_IDE_CPL": "string",  # CIP prefix
    "IDE_ETA_NU8": "string",  # FINESS without check digit (FK target of ETB_PRE_FIN)
    # Code-list keys typed integer in the referential, joined to integer DCIR fields: the
    # join columns must share one type (PRS_NAT_REF, PSE_SPE_COD and IMB_ALD_NUM are integer).
    "PRS_NAT": "integer",
    "PFS_SPE_COD": "integer",
    "ALD_030_COD": "integer",
    # Month numbers typed date/string in the schema.
    "PFS_MAJ_DAT": "integer",  # "mois de dernière mise à jour durant l'exercice"
    # Free-text / label fields whose name looks like a count or amount.
    "NUM_DAT_AT": "string",  # accident number *or* date: mixed content
    # Technical column of ORAVAL value lists (0 normal row, 1/2 unknown / not applicable).
    "TEC_COL": "integer",
}

#: Integer measures and small ordinal fields (checked before the code rules below).
INTEGER_FIELDS: frozenset[str] = frozenset(
    {
        "BEN_RNG_GEM",
        "BEN_SEX_COD",
        "COD_SEX",
        "BEN_NAI_ANN",
        "BEN_NAI_MOI",
        "BEN_AMA_COD",
        "AGE_ANN",
        "AGE_JOU",
        "SOR_ANN",
        "SOR_MOI",
        "SEJ_NBJ",
        "PRS_ACT_NBR",
        "BSE_REM_SGN",
        "CPL_REM_SGN",
        "CPL_MAJ_TOP",
        "DPN_QLF",
        "PRS_DPN_QLP",
        "PRS_NAT_REF",
        "BSE_PRS_NAT",
        "CPL_PRS_NAT",
        "PSE_SPE_COD",
        "PSP_SPE_COD",
        "PSE_ACT_NAT",
        "PSP_ACT_NAT",
        "IMB_ALD_NUM",
        "IMB_ETM_NAT",
        "ETE_IND_TAA",
        "PRS_PPU_SEC",
        "PHA_ORD_NUM",
        "CAM_ORD_NUM",
        "BIO_ORD_NUM",
        "UCD_ORD_NUM",
        "DGN_ASS_NUM",
        "ENT_DAT_DEL",
        "UCD_DLV_NBR",
        "UM_ORD_NUM",  # sequential RUM number within a stay (ordinal)
        "CER_LIG_NUM",  # line number on the death certificate (ordinal)
        "UCD_LGN_NUM",  # line number (ordinal)
        "GRS_ORD_NUM",  # rank of the child in a multiple pregnancy (ordinal)
    }
)

#: Suffixes/prefixes of amounts, prices, rates and coefficients -> number.
_NUMBER_PATTERN = re.compile(
    r"(_MNT|_MNR|_PRU|_TAU|_COE|_COG|_CFT|_BRM|_BSE|_MNT_PAT|^PRI_UNI|^REM_BAS|_COE_\w+)$"
)
#: Identifiers, keys and codes -> string.
_CODE_PATTERN = re.compile(
    r"(_NUM|_COD|_IDE|_C13|_C07|_FIN|_RET|_TOP|_NAT|_CRY|_ENC|_ANO_17|_ANO|_PSA|_NU8|_DPT"
    r"|_COM|_GHM|_GME|_VER)$"
    r"|NIR|_ANO_|^TOP_|^FLX_EMT_|_NUM_|_COD\d?$|_COD_"
)
#: Code-like names not caught by the patterns.
_CODE_NAMES: frozenset[str] = frozenset(
    {
        "ETA_NUM",
        "RSA_NUM",
        "SEQ_NUM",
        "DCT_ORD_NUM",
        "PRS_ORD_NUM",
        "REM_TYP_AFF",
        "ORG_CLE_NUM",
        "DGN_PAL",
        "DGN_REL",
        "ASS_DGN",
        "GRG_GHM",
        "CDC_ACT",
        "ENT_MOD",
        "ENT_PRV",
        "SOR_MOD",
        "SOR_DES",
        "TYP_GEN_RSA",
        "RNG_NAI",
        "GRC_VER",
        # Codes typed integer in the schema without a nomenclature or a code-like suffix.
        "IDE_CBU_CTR",
        "IDE_IDE_CON",
        "IDE_IDE_CTR",
        "IDE_IDE_EAM",
        "IDE_IDE_EAS",
        "NOE_OPE",
        "PLO_ACT",
        "VID_HOSP_FOR",
    }
)
#: Counts -> integer.
_COUNT_PATTERN = re.compile(r"^NBR_|_NBR$|_NBJ$|_QTE$|_QSN$|_QSU$|_NBR_")
#: Month numbers (typed date in the schema) -> integer.
_MONTH_PATTERN = re.compile(r"(^|_)MOI(_|$)")


def canonical_type(name: str, source_types: Iterable[str], has_nomenclature: bool) -> str:
    """Return the one canonical type of the column ``name`` across all tables.

    ``source_types`` are the Table Schema types the column carries in the tables where it
    appears; ``has_nomenclature`` says whether any of them names a value list. Precedence:

    1. :data:`TYPE_OVERRIDES` (explicit, commented decisions);
    2. :data:`INTEGER_FIELDS` (integer measures and small ordinals) -> ``integer``;
    3. schema ``datetime`` only -> ``datetime``;
    4. month numbers typed ``date`` (``*_MOI*``) -> ``integer``; other ``date`` -> ``date``;
    5. ``year`` -> ``integer``; ``yearmonth`` -> ``string`` (yyyyMM text);
    6. amounts, prices, rates, coefficients (:data:`_NUMBER_PATTERN`) -> ``number``;
    7. identifiers, keys, codes, flags, anything with a nomenclature, and ``boolean``
       (SNDS flags are "0"/"1" codes) -> ``string``;
    8. counts (:data:`_COUNT_PATTERN`) -> ``integer``;
    9. otherwise the schema type; a name typed both integer and number -> ``number``; any
       other mix -> ``string``.
    """
    types = set(source_types)
    if name in TYPE_OVERRIDES:
        return TYPE_OVERRIDES[name]
    if name in INTEGER_FIELDS:
        return "integer"
    if types == {"datetime"}:
        return "datetime"
    if types & {"date", "datetime"}:
        return "integer" if _MONTH_PATTERN.search(name) else "date"
    if "year" in types:
        return "integer"
    if "yearmonth" in types:
        return "string"
    if _NUMBER_PATTERN.search(name):
        return "number"
    if has_nomenclature or name in _CODE_NAMES or _CODE_PATTERN.search(name) or "boolean" in types:
        return "string"
    if _COUNT_PATTERN.search(name):
        return "integer"
    if len(types) == 1:
        (only,) = types
        return only
    if types == {"integer", "number"}:
        return "number"
    return "string"


# --------------------------------------------------------------------------------------------
# Reading the schema
# --------------------------------------------------------------------------------------------


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _year(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _nomenclature(value: Any) -> str | None:
    text = str(value or "").strip()
    return None if text in ("", "-") else text


def _load_raw(schema_dir: Path) -> dict[str, dict[str, Any]]:
    """Read every supported table's JSON into a raw dict (name, product, title, fields...)."""
    by_name: dict[str, Path] = {}
    for path in sorted((schema_dir / "schemas").rglob("*.json")):
        by_name.setdefault(path.stem, path)
    raw: dict[str, dict[str, Any]] = {}
    for name in SCHEMA_TABLES:
        path = by_name[name]
        data = json.loads(path.read_text(encoding="utf-8"))
        raw[name] = {
            "data": data,
            "folder": path.parent.name,
            "rel": path.relative_to(schema_dir).as_posix(),
        }
    for name, (folder, _grain) in REFERENTIAL_TABLES.items():
        path = schema_dir / "nomenclatures" / folder / f"{name}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        raw[name] = {"data": data, "folder": folder, "rel": path.relative_to(schema_dir).as_posix()}
    return raw


def _product(name: str, folder: str) -> str:
    if name in REFERENTIAL_TABLES or name in HANDWRITTEN_TABLES:
        return "REFERENTIEL"
    return PRODUCTS[folder]


def _file_layout(name: str, product: str) -> tuple[str, str, str]:
    """Return (file_stem, partition, date_format) for a table."""
    match = PMSI_PREFIX.match(name)
    if match:
        stem = f"T_{match.group(1)}{{yy}}{match.group(2)}"
        fmt = "%d%b%Y" if name == "T_MCOaaCSTC" else "%d%b%Y:%H:%M:%S"
        return stem, "year", fmt
    if product == "DCIR" and name.startswith("ER_"):
        return f"{name}_{{year}}", "flow_year", "%d/%m/%Y"
    if name.startswith("KI_"):
        return f"{name}_{{year}}", "year", "%d/%m/%Y"
    return name, "none", "%d/%m/%Y"


def _collect_types(raw: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Canonical type for every column name of every supported table."""
    types: dict[str, set[str]] = defaultdict(set)
    nomenclature: dict[str, bool] = defaultdict(bool)
    for entry in raw.values():
        for field in entry["data"]["fields"]:
            types[field["name"]].add(field["type"])
            nomenclature[field["name"]] |= _nomenclature(field.get("nomenclature")) is not None
    for spec in HANDWRITTEN_TABLES.values():
        for col, typ, _length, _desc in spec["columns"]:
            types[col].add(typ)
    result = {name: canonical_type(name, types[name], nomenclature[name]) for name in types}
    bad = {k: v for k, v in result.items() if v not in CANONICAL_TYPES}
    if bad:
        raise SystemExit(f"non-canonical types: {bad}")
    return result


def _fks(name: str, data: dict[str, Any], known: set[str]) -> list[dict[str, Any]]:
    fks: list[tuple[list[str], str, list[str]]] = []
    for fk in data.get("foreignKeys", []) or []:
        ref = fk["reference"]["resource"]
        if ref not in known:
            continue
        fks.append((_as_list(fk["fields"]), ref, _as_list(fk["reference"]["fields"])))
    for extra in EXTRA_FKS.get(name, []):
        if extra not in fks:
            fks.append(extra)
    return [
        {"columns": cols, "references": {"table": ref, "columns": ref_cols}}
        for cols, ref, ref_cols in fks
    ]


def build_specs(schema_dir: Path) -> dict[str, dict[str, Any]]:
    """Build every table spec as a plain dict (key order = YAML order)."""
    raw = _load_raw(schema_dir)
    ctypes = _collect_types(raw)
    known = set(raw) | set(HANDWRITTEN_TABLES)
    specs: dict[str, dict[str, Any]] = {}
    for name, entry in raw.items():
        data = entry["data"]
        product = _product(name, entry["folder"])
        stem, partition, date_format = _file_layout(name, product)
        columns = []
        for field in data["fields"]:
            columns.append(
                {
                    "name": field["name"],
                    "type": ctypes[field["name"]],
                    "length": field.get("length") or None,
                    "description": field.get("description", "") or "",
                    "nomenclature": _nomenclature(field.get("nomenclature")),
                    "source_type": field["type"],
                    "first_year": _year(field.get("dateCreated")),
                    "last_year": (
                        y - 1 if (y := _year(field.get("dateDeleted"))) is not None else None
                    ),
                }
            )
        history = data.get("history") or {}
        first = _year(history.get("dateCreated"))
        if first is None:
            col_years = [c["first_year"] for c in columns if c["first_year"] is not None]
            first = min(col_years) if col_years else None
        last = _year(history.get("dateDeleted"))
        grain = SCHEMA_TABLES.get(name) or REFERENTIAL_TABLES[name][1]
        specs[name] = {
            "name": name,
            "product": product,
            "title": data.get("title", ""),
            "grain": grain,
            "source": f"indsante/schema-snds {entry['rel']} (MPL-2.0)",
            "file_stem": stem,
            "partition": partition,
            "date_format": date_format,
            "years": {"first": first, "last": last - 1 if last is not None else None},
            "primary_key": _as_list(data.get("primaryKey") or []),
            "foreign_keys": _fks(name, data, known),
            "columns": columns,
        }
    for name, hand in HANDWRITTEN_TABLES.items():
        stem, partition, date_format = _file_layout(name, "REFERENTIEL")
        specs[name] = {
            "name": name,
            "product": hand["product"],
            "title": hand["title"],
            "grain": hand["grain"],
            "source": hand["source"],
            "file_stem": stem,
            "partition": partition,
            "date_format": date_format,
            "years": {"first": None, "last": None},
            "primary_key": hand["primary_key"],
            "foreign_keys": [],
            "note": hand["note"],
            "columns": [
                {
                    "name": col,
                    "type": ctypes[col],
                    "length": length,
                    "description": desc,
                    "nomenclature": None,
                    "source_type": typ,
                    "first_year": None,
                    "last_year": None,
                }
                for col, typ, length, desc in hand["columns"]
            ],
        }
    _check(specs)
    return dict(sorted(specs.items()))


def _check(specs: dict[str, dict[str, Any]]) -> None:
    """Fail loudly on FKs to unknown columns or with mismatched types."""
    errors = []
    for name, spec in specs.items():
        cols = {c["name"]: c["type"] for c in spec["columns"]}
        for key in spec["primary_key"]:
            if key not in cols:
                errors.append(f"{name}: PK column {key} missing")
        for fk in spec["foreign_keys"]:
            ref = specs[fk["references"]["table"]]
            ref_cols = {c["name"]: c["type"] for c in ref["columns"]}
            for here, there in zip(fk["columns"], fk["references"]["columns"], strict=True):
                if here not in cols or there not in ref_cols:
                    errors.append(f"{name}.{here} -> {ref['name']}.{there}: missing column")
                elif cols[here] != ref_cols[there]:
                    errors.append(
                        f"{name}.{here} ({cols[here]}) -> {ref['name']}.{there} "
                        f"({ref_cols[there]}): type mismatch"
                    )
    if errors:
        raise SystemExit("\n".join(errors))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping dumped in flow style (one line)."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list dumped in flow style (one line)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def to_yaml(spec: dict[str, Any]) -> str:
    """Serialise one spec deterministically (table keys in a fixed order, columns one a line)."""
    doc = {k: v for k, v in spec.items() if k != "note"}
    doc["years"] = _Flow(spec["years"])
    doc["primary_key"] = _FlowList(spec["primary_key"])
    doc["foreign_keys"] = [
        _Flow(
            {
                "columns": _FlowList(fk["columns"]),
                "references": _Flow(
                    {
                        "table": fk["references"]["table"],
                        "columns": _FlowList(fk["references"]["columns"]),
                    }
                ),
            }
        )
        for fk in spec["foreign_keys"]
    ]
    doc["columns"] = [_Flow(col) for col in spec["columns"]]
    if "note" in spec:
        header = (
            "# Hand-written sndslab spec (no public schema), emitted by tools/derive_registry.py."
            f"\n# {spec['note']}\n"
        )
    else:
        header = (
            "# Generated by tools/derive_registry.py from indsante/schema-snds (MPL-2.0). "
            "Do not edit by hand.\n"
        )
    body = yaml.dump(
        doc,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=10_000,
        default_flow_style=False,
    )
    return header + body


def _encoding(data: bytes) -> str:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        pass
    else:
        del text
        return "ascii (utf-8 compatible)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _delimiter(data: bytes) -> str:
    first = data.split(b"\n", 1)[0]
    return ";" if first.count(b";") >= first.count(b",") else ","


def vendor_nomenclatures(schema_dir: Path, out: Path) -> list[tuple[str, int, str, str]]:
    """Copy the value lists unchanged; return (relative path, bytes, encoding, delimiter)."""
    target = out / "nomenclatures"
    rows = []
    for folder, name in VENDORED_NOMENCLATURES:
        for ext in (".csv", ".json"):
            src = schema_dir / "nomenclatures" / folder / f"{name}{ext}"
            if not src.exists():
                continue
            dst = target / folder / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            data = src.read_bytes()
            if ext == ".csv":
                rows.append((f"{folder}/{src.name}", len(data), _encoding(data), _delimiter(data)))
            else:
                rows.append((f"{folder}/{src.name}", len(data), _encoding(data), ""))
    shutil.copyfile(schema_dir / "LICENSE", target / "LICENSE")
    lines = [
        "# Vendored nomenclatures (MPL-2.0)",
        "",
        "The files in this folder were copied **unmodified** from the public repository",
        "`indsante/schema-snds` (GitHub mirror of `gitlab.com/healthdatahub/schema-snds`,",
        "snapshot of 2020-12-15), folder `nomenclatures/`, by `tools/derive_registry.py`.",
        "They are covered by the Mozilla Public License 2.0 (see `LICENSE` here); their source",
        "is available at https://github.com/indsante/schema-snds and",
        "https://gitlab.com/healthdatahub/schema-snds. The nomenclature content originates from",
        "CNAM, ATIH and DREES. The rest of sndslab keeps its own licence.",
        "",
        "The table specs in `../tables/*.yaml` are derived from the schema-snds Table Schema",
        "files (same licence): column names, descriptions, lengths, nomenclatures and years are",
        "theirs; canonical types, grains, file layouts and added keys are sndslab's.",
        "",
        "| File | Bytes | Encoding | Delimiter |",
        "|---|---:|---|---|",
    ]
    for rel, size, enc, delim in rows:
        lines.append(f"| `{rel}` | {size} | {enc} | {'`' + delim + '`' if delim else '—'} |")
    total = sum(r[1] for r in rows)
    lines += ["", f"Total: {len(rows)} files, {total} bytes.", ""]
    (target / "NOTICE.md").write_text("\n".join(lines), encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("schema_dir", nargs="?", type=Path, default=DEFAULT_SCHEMA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    schema_dir: Path = args.schema_dir
    out: Path = args.out
    if not (schema_dir / "schemas").is_dir():
        print(f"error: {schema_dir} is not a schema-snds checkout", file=sys.stderr)
        return 2
    specs = build_specs(schema_dir)
    tables = out / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    for stale in tables.glob("*.yaml"):
        if stale.stem not in specs:
            stale.unlink()
    for name, spec in specs.items():
        (tables / f"{name}.yaml").write_text(to_yaml(spec), encoding="utf-8")
    rows = vendor_nomenclatures(schema_dir, out)
    n_cols = sum(len(s["columns"]) for s in specs.values())
    print(
        f"wrote {len(specs)} table specs ({n_cols} columns) and {len(rows)} nomenclature files"
        f" to {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
