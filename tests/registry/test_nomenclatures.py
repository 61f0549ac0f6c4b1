"""Vendored value lists: present, readable, licensed."""

from __future__ import annotations

from importlib.resources import files

import pyarrow as pa
import pytest

from sndslab.registry import (
    REGISTRY_SOURCE_NOTICE,
    RegistryError,
    list_nomenclatures,
    load_nomenclature,
)

REQUIRED = [
    "IR_NAT_V", "IR_SPE_V", "IR_DPT_V", "IR_CIM_V", "IR_ALD_V", "IR_ETM_V", "IR_CMD_V",
    "IR_SEX_V", "IR_DEP_V", "IR_SGN_V", "IR_ACT_V", "IR_SPA_D", "IR_CAT_V", "IR_BIO_R",
    "NU_UCD_R", "IR_CCAM_V63", "CSARR", "IR_HAD_PEC_PAL",
]  # fmt: skip


@pytest.mark.parametrize("name", REQUIRED)
def test_nomenclature_loads_as_strings(name: str) -> None:
    table = load_nomenclature(name)
    assert table.num_rows > 0
    assert all(field.type == pa.string() for field in table.schema)


def test_known_contents() -> None:
    assert 1300 <= load_nomenclature("IR_NAT_V").num_rows <= 1400
    assert "075" in load_nomenclature("IR_DPT_V").column("GEO_DPT_COD").to_pylist()
    ccam = load_nomenclature("IR_CCAM_V63")
    assert ccam.column_names == ["CAM_PRS_IDE_COD", "CAM_PRS_IDE_LIB", "CAM_PRS_RGT"]
    codes = ccam.column("CAM_PRS_IDE_COD").to_pylist()
    # a handful of upstream rows carry a bracketed suffix on a second line ("JANH798\n[A]")
    assert sum(len(code) == 7 for code in codes) / len(codes) > 0.99


def test_listing_and_unknown() -> None:
    assert set(REQUIRED) <= set(list_nomenclatures())
    with pytest.raises(RegistryError, match="IR_NAT_V"):
        load_nomenclature("IR_NAT_X")


def test_licence_and_notice_shipped() -> None:
    root = files("sndslab.registry").joinpath("nomenclatures")
    assert root.joinpath("LICENSE").read_text(encoding="utf-8").startswith("Mozilla Public")
    notice = root.joinpath("NOTICE.md").read_text(encoding="utf-8")
    assert "unmodified" in notice
    assert "MPL-2.0" in REGISTRY_SOURCE_NOTICE or "Mozilla" in REGISTRY_SOURCE_NOTICE
