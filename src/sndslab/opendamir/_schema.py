"""The public layout of the Open DAMIR files and their lexicon (vendored, MPL-2.0).

The 55 columns in the order of the published files (``A{YYYYMM}.csv.gz`` on data.ameli.fr);
names and types from schema-snds ``schemas/DAMIR/OPEN_DAMIR.json``; code lists from
schema-snds ``nomenclatures/OPENDAMIR`` and ``nomenclatures/ORAVAL`` (see lexicon/NOTICE.md).

>>> len(PUBLIC_COLUMNS), PUBLIC_COLUMNS[:4]
(55, ('FLX_ANN_MOI', 'ORG_CLE_REG', 'AGE_BEN_SNDS', 'BEN_RES_REG'))
>>> column_type("PRS_PAI_MNT"), column_type("PRS_ACT_QTE"), column_type("DRG_AFF_NAT")
('DECIMAL(18,2)', 'BIGINT', 'VARCHAR')
>>> codes("AGE_BEN_SNDS")[:3]
[('0', '0-19 ANS'), ('20', '20 - 29 ANS'), ('30', '30 - 39 ANS')]
>>> is_opendamir_name("A201901.csv.gz"), is_opendamir_name("ER_PRS_F.csv")
(True, False)
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path

import pyarrow as pa

__all__ = [
    "AMOUNT_COLUMNS",
    "CHECKED_AXES",
    "LABELLED_COLUMNS",
    "MEASURE_COLUMNS",
    "PUBLIC_COLUMNS",
    "QUANTITY_COLUMNS",
    "STRING_COLUMNS",
    "codes",
    "column_type",
    "file_month",
    "is_opendamir_name",
    "lexicon_table",
]

#: The columns of a published file, in the published order.
PUBLIC_COLUMNS: tuple[str, ...] = (
    "FLX_ANN_MOI", "ORG_CLE_REG", "AGE_BEN_SNDS", "BEN_RES_REG", "BEN_CMU_TOP", "BEN_QLT_COD",
    "BEN_SEX_COD", "DDP_SPE_COD", "ETE_CAT_SNDS", "ETE_REG_COD", "ETE_TYP_SNDS", "ETP_REG_COD",
    "ETP_CAT_SNDS", "MDT_TYP_COD", "MFT_COD", "PRS_FJH_TYP", "PRS_ACT_COG", "PRS_ACT_NBR",
    "PRS_ACT_QTE", "PRS_DEP_MNT", "PRS_PAI_MNT", "PRS_REM_BSE", "PRS_REM_MNT", "FLT_ACT_COG",
    "FLT_ACT_NBR", "FLT_ACT_QTE", "FLT_PAI_MNT", "FLT_DEP_MNT", "FLT_REM_MNT", "SOI_ANN",
    "SOI_MOI", "ASU_NAT", "ATT_NAT", "CPL_COD", "CPT_ENV_TYP", "DRG_AFF_NAT", "ETE_IND_TAA",
    "EXO_MTF", "MTM_NAT", "PRS_NAT", "PRS_PPU_SEC", "PRS_REM_TAU", "PRS_REM_TYP", "PRS_PDS_QCP",
    "EXE_INS_REG", "PSE_ACT_SNDS", "PSE_ACT_CAT", "PSE_SPE_SNDS", "PSE_STJ_SNDS", "PRE_INS_REG",
    "PSP_ACT_SNDS", "PSP_ACT_CAT", "PSP_SPE_SNDS", "PSP_STJ_SNDS", "TOP_PS5_TRG",
)  # fmt: skip
#: Counted measures (integers; negative on regularisation lines).
QUANTITY_COLUMNS: tuple[str, ...] = ("PRS_ACT_NBR", "PRS_ACT_QTE", "FLT_ACT_NBR", "FLT_ACT_QTE")
#: Amounts and coefficients (euros, two decimals; a decimal comma is accepted on reading).
AMOUNT_COLUMNS: tuple[str, ...] = (
    "PRS_ACT_COG", "PRS_DEP_MNT", "PRS_PAI_MNT", "PRS_REM_BSE", "PRS_REM_MNT",
    "FLT_ACT_COG", "FLT_PAI_MNT", "FLT_DEP_MNT", "FLT_REM_MNT",
)  # fmt: skip
MEASURE_COLUMNS: tuple[str, ...] = tuple(
    c for c in PUBLIC_COLUMNS if c in QUANTITY_COLUMNS or c in AMOUNT_COLUMNS
)
#: Text columns (schema-snds type ``string``).
STRING_COLUMNS: tuple[str, ...] = ("BEN_CMU_TOP", "DRG_AFF_NAT")
#: Axes whose code must be in the lexicon (unknown codes 9 / 99 included), else the line is
#: quarantined (``unknown_code``): the axes of every indicator (age, sex, residence).
CHECKED_AXES: tuple[str, ...] = ("AGE_BEN_SNDS", "BEN_SEX_COD", "BEN_RES_REG")
#: Columns given a label column ``<COLUMN>_LIB`` in the lake table.
LABELLED_COLUMNS: tuple[str, ...] = (
    "AGE_BEN_SNDS", "BEN_SEX_COD", "BEN_RES_REG", "PRS_NAT", "PSE_SPE_SNDS", "PSE_ACT_CAT",
    "PSP_SPE_SNDS",
)  # fmt: skip

#: Code lists of the SNDS (ORAVAL) that the product reuses, by column.
_ORAVAL = {
    "PRS_NAT": "IR_NAT_V",
    "BEN_SEX_COD": "IR_SEX_V",
    "ASU_NAT": "IR_ASU_V",
    "EXO_MTF": "IR_EXO_V",
    "BEN_QLT_COD": "IR_BEQ_V",
    "PRS_PPU_SEC": "IR_PPU_V",
}
_NAME = re.compile(r"^A(\d{4})(0[1-9]|1[0-2])\.csv(\.gz)?$", re.IGNORECASE)


def _lexicon_dir() -> Path:
    return Path(str(resources.files("sndslab.opendamir").joinpath("lexicon")))


def column_type(column: str) -> str:
    """DuckDB type of a public column in the lake (and on reading)."""
    if column in AMOUNT_COLUMNS:
        return "DECIMAL(18,2)"
    if column in STRING_COLUMNS:
        return "VARCHAR"
    return "BIGINT"


def is_opendamir_name(name: str) -> bool:
    """Whether a file name is an Open DAMIR month file, ``A{YYYYMM}.csv`` or ``.csv.gz``."""
    return _NAME.match(name) is not None


def file_month(name: str) -> int:
    """``A201901.csv.gz`` → 201901 (the flow month the file's name announces).

    >>> file_month("A202012.csv")
    202012
    """
    m = _NAME.match(name)
    if m is None:
        raise ValueError(f"{name}: not an Open DAMIR file name (A{{YYYYMM}}.csv[.gz])")
    return int(m.group(1) + m.group(2))


@cache
def _schema_fields() -> dict[str, dict[str, str]]:
    data = json.loads((_lexicon_dir() / "DAMIR" / "OPEN_DAMIR.json").read_text(encoding="utf-8"))
    return {f["name"]: f for f in data["fields"]}


def description(column: str) -> str:
    """The column's description in the schema (French)."""
    return str(_schema_fields()[column].get("description", ""))


def _code_file(column: str) -> Path | None:
    if column in _ORAVAL:
        return _lexicon_dir() / "ORAVAL" / f"{_ORAVAL[column]}.csv"
    path = _lexicon_dir() / "OPENDAMIR" / f"{column}.csv"
    return path if path.exists() else None


@cache
def codes(column: str) -> list[tuple[str, str]]:
    """``(code, label)`` pairs of a coded column, in the lexicon's order (empty if none)."""
    path = _code_file(column)
    if path is None:
        return []
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    header, body = rows[0], rows[1:]
    label = next(i for i, name in enumerate(header) if "LIB" in name)
    return [(r[0].strip(), r[label].strip()) for r in body if r and r[0].strip()]


def coded_columns() -> list[str]:
    """The public columns that have a vendored code list."""
    return [c for c in PUBLIC_COLUMNS if _code_file(c) is not None]


def lexicon_table() -> pa.Table:
    """One row per (column, code): ``column``, ``code`` (as text), ``label``."""
    rows = [(c, code, label) for c in coded_columns() for code, label in codes(c)]
    return pa.table(
        {
            "column": [r[0] for r in rows],
            "code": [r[1] for r in rows],
            "label": [r[2] for r in rows],
        }
    )
