"""The shipped table specs: completeness, one type per column name, keys and foreign keys."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sndslab.registry import (
    ARROW_TYPES,
    ForeignKey,
    TableSpec,
    canonical_type,
    get_table,
    list_tables,
)

REQUIRED = [
    "IR_BEN_R", "IR_IMB_R", "ER_PRS_F", "ER_PHA_F", "ER_CAM_F", "ER_BIO_F", "ER_UCD_F",
    "ER_ETE_F", "DA_PRA_R", "BE_IDE_R", "T_MCOaaB", "T_MCOaaC", "T_MCOaaD", "T_MCOaaA",
    "T_MCOaaUM", "T_MCOaaE", "T_MCOaaCSTC", "T_MCOaaFASTC", "T_MCOaaFBSTC", "T_MCOaaFCSTC",
    "T_MCOaaFMSTC", "T_SSRaaB", "T_SSRaaC", "T_SSRaaD", "T_SSRaaCCAM", "T_SSRaaCSARR",
    "T_HADaaB", "T_HADaaC", "T_HADaaD", "T_HADaaA", "T_RIPaaRSA", "T_RIPaaC", "KI_CCI_R",
    "KI_ECD_R", "IR_PHA_R", "IR_NAT_V", "IR_SPE_V", "IR_CIM_V", "IR_CCAM_V63", "IR_BIO_R",
    "NU_UCD_R", "IR_DPT_V", "IR_ALD_V", "XX_GHM_R",
]  # fmt: skip

DCIR_KEYS = (
    "DCT_ORD_NUM", "FLX_DIS_DTD", "FLX_EMT_NUM", "FLX_EMT_ORD", "FLX_EMT_TYP", "FLX_TRT_DTD",
    "ORG_CLE_NUM", "PRS_ORD_NUM", "REM_TYP_AFF",
)  # fmt: skip
DCIR_SATELLITES = ["ER_PHA_F", "ER_CAM_F", "ER_BIO_F", "ER_UCD_F", "ER_ETE_F"]

ALL = [get_table(name) for name in list_tables()]


def test_required_tables_present() -> None:
    missing = sorted(set(REQUIRED) - set(list_tables()))
    assert not missing


def test_list_tables_sorted_and_named_like_files() -> None:
    assert list_tables() == sorted(list_tables())
    assert all(get_table(n).name == n for n in list_tables())


def test_one_canonical_type_per_column_name() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for spec in ALL:
        for col in spec.columns:
            if col.name in seen:
                other_type, other_table = seen[col.name]
                assert col.type == other_type, (
                    f"{col.name}: {col.type} in {spec.name}, {other_type} in {other_table}"
                )
            else:
                seen[col.name] = (col.type, spec.name)
            assert col.type == canonical_type(col.name)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("ETA_NUM", "string"),
        ("RSA_NUM", "string"),
        ("BEN_NIR_PSA", "string"),
        ("PHA_PRS_C13", "string"),
        ("PHA_CIP_C13", "string"),
        ("BEN_RNG_GEM", "integer"),
        ("PRS_NAT_REF", "integer"),
        ("FLX_DIS_DTD", "date"),
        ("EXE_SOI_DTD", "date"),
        ("BEN_DCD_DTE", "date"),
        ("ENT_DAT", "string"),
        ("SOR_MOI", "integer"),
        ("BEN_NAI_ANN", "integer"),
        ("PRS_PAI_MNT", "number"),
        ("NIR_RET", "string"),
        ("DCT_ORD_NUM", "string"),
    ],
)
def test_selected_canonical_types(column: str, expected: str) -> None:
    assert canonical_type(column) == expected


def test_column_names_unique_within_table() -> None:
    for spec in ALL:
        assert len(spec.column_names) == len(set(spec.column_names)), spec.name


def test_primary_keys_exist() -> None:
    for spec in ALL:
        for key in spec.primary_key:
            spec.column(key)


@pytest.mark.parametrize("name", DCIR_SATELLITES)
def test_dcir_satellites_have_nine_key_fk(name: str) -> None:
    spec = get_table(name)
    prs = get_table("ER_PRS_F")
    fk = ForeignKey(columns=DCIR_KEYS, ref_table="ER_PRS_F", ref_columns=DCIR_KEYS)
    assert fk in spec.foreign_keys
    for key in DCIR_KEYS:
        assert spec.column(key).type == prs.column(key).type


def _fk_pairs(spec: TableSpec) -> list[tuple[str, str, str]]:
    return [
        (fk.ref_table, here, there)
        for fk in spec.foreign_keys
        for here, there in zip(fk.columns, fk.ref_columns, strict=True)
    ]


def test_foreign_keys_reference_existing_columns_with_same_type() -> None:
    tables = set(list_tables())
    for spec in ALL:
        for fk in spec.foreign_keys:
            assert fk.ref_table in tables, (spec.name, fk)
            assert len(fk.columns) == len(fk.ref_columns)
        for ref_table, here, there in _fk_pairs(spec):
            ref = get_table(ref_table)
            assert spec.column(here).type == ref.column(there).type, (spec.name, here, there)


@pytest.mark.parametrize(
    ("child", "parent", "columns"),
    [
        ("T_MCOaaUM", "T_MCOaaB", ("ETA_NUM", "RSA_NUM")),
        ("T_MCOaaD", "T_MCOaaB", ("ETA_NUM", "RSA_NUM")),
        ("T_MCOaaA", "T_MCOaaB", ("ETA_NUM", "RSA_NUM")),
        ("T_MCOaaFMSTC", "T_MCOaaFASTC", ("ETA_NUM", "SEQ_NUM")),
        ("T_MCOaaCSTC", "T_MCOaaFASTC", ("ETA_NUM", "SEQ_NUM")),
        ("T_SSRaaC", "T_SSRaaB", ("ETA_NUM", "RHA_NUM")),
        ("T_HADaaD", "T_HADaaB", ("ETA_NUM_EPMSI", "RHAD_NUM")),
        ("T_RIPaaC", "T_RIPaaRSA", ("ETA_NUM_EPMSI", "RIP_NUM")),
        ("KI_ECD_R", "KI_CCI_R", ("DCD_IDT_ENC",)),
    ],
)
def test_added_foreign_keys(child: str, parent: str, columns: tuple[str, ...]) -> None:
    fk = ForeignKey(columns=columns, ref_table=parent, ref_columns=columns)
    assert fk in get_table(child).foreign_keys


def test_arrow_schema_one_field_per_column() -> None:
    for spec in ALL:
        schema = spec.arrow_schema()
        assert schema.names == spec.column_names
        for col in spec.columns:
            assert schema.field(col.name).type == ARROW_TYPES[col.type]
    assert get_table("ER_PRS_F").arrow_schema().field("FLX_DIS_DTD").type == pa.date32()


def test_date_columns_and_formats() -> None:
    prs = get_table("ER_PRS_F")
    assert {"FLX_DIS_DTD", "FLX_TRT_DTD", "EXE_SOI_DTD"} <= set(prs.date_columns)
    assert prs.date_format == "%d/%m/%Y"
    assert get_table("T_MCOaaC").date_format == "%d%b%Y:%H:%M:%S"
    assert get_table("T_MCOaaCSTC").date_format == "%d%b%Y"


def test_products_and_partitions() -> None:
    assert get_table("ER_PRS_F").partition == "flow_year"
    assert get_table("T_MCOaaB").product == "PMSI MCO"
    assert get_table("IR_BEN_R").partition == "none"
    assert get_table("KI_CCI_R").product == "CEPIDC"
    assert get_table("XX_GHM_R").source == "sndslab (no public schema)"
    for spec in ALL:
        assert spec.grain.startswith("One row per"), spec.name


def test_column_lookup_errors() -> None:
    from sndslab.errors import SndslabError
    from sndslab.registry import RegistryError, UnknownColumnError

    with pytest.raises(RegistryError, match="no column"):
        get_table("ER_PRS_F").column("NOPE")
    with pytest.raises(UnknownColumnError) as info:
        canonical_type("BEN_NIR_PSX")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, SndslabError)
    assert "BEN_NIR_PSA" in str(info.value)
