"""Export file names: formatting and resolution round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sndslab.errors import SndslabError
from sndslab.registry import (
    RegistryError,
    UnknownTableError,
    get_table,
    list_tables,
    resolve_file_stem,
)


@pytest.mark.parametrize(
    ("stem", "table", "year"),
    [
        ("T_MCO20B", "T_MCOaaB", 2020),
        ("T_MCO20CSTC", "T_MCOaaCSTC", 2020),
        ("T_MCO19FASTC", "T_MCOaaFASTC", 2019),
        ("T_SSR18CSARR", "T_SSRaaCSARR", 2018),
        ("T_RIP15RSA", "T_RIPaaRSA", 2015),
        ("ER_PRS_F_2021", "ER_PRS_F", 2021),
        ("KI_CCI_R_2016", "KI_CCI_R", 2016),
        ("IR_BEN_R", "IR_BEN_R", None),
        ("ir_ben_r", "IR_BEN_R", None),
    ],
)
def test_resolve_examples(stem: str, table: str, year: int | None) -> None:
    spec, got = resolve_file_stem(stem)
    assert (spec.name, got) == (table, year)


@given(name=st.sampled_from(list_tables()), year=st.integers(2006, 2030))
def test_file_name_round_trip(name: str, year: int) -> None:
    spec = get_table(name)
    if spec.needs_year:
        stem = spec.file_name(year)
        assert resolve_file_stem(stem) == (spec, year)
        assert get_table(stem) is spec
    else:
        stem = spec.file_name()
        assert resolve_file_stem(stem) == (spec, None)


def test_file_name_formats() -> None:
    assert get_table("T_MCOaaB").file_name(2006) == "T_MCO06B"
    assert get_table("ER_PRS_F").file_name(2021) == "ER_PRS_F_2021"
    assert get_table("IR_BEN_R").file_name() == "IR_BEN_R"


def test_file_name_requires_year() -> None:
    with pytest.raises(RegistryError, match="give a year"):
        get_table("T_MCOaaB").file_name(None)
    with pytest.raises(RegistryError, match="without a year"):
        get_table("IR_BEN_R").file_name(2020)
    with pytest.raises(RegistryError, match="2-digit"):
        get_table("T_MCOaaB").file_name(1999)


def test_unknown_table_error_lists_close_matches() -> None:
    with pytest.raises(UnknownTableError) as info:
        resolve_file_stem("ER_PRS_X_2021")
    message = str(info.value)
    assert "ER_PRS_F" in message
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, SndslabError)
    with pytest.raises(UnknownTableError, match="T_MCOaaB"):
        get_table("T_MCOaaBB")


def test_get_table_accepts_generic_and_concrete_names() -> None:
    assert get_table("T_MCOaaB") is get_table("T_MCO20B")
    assert get_table("t_mcoaab").name == "T_MCOaaB"
