"""Discovery: fingerprints, encodings, delimiters, table and year recognition."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from sndslab.ingest import discover
from sndslab.ingest._accounting import AccountingError, FileAccount, LineCounter


def test_synthetic_files_are_recognised_by_name(synth_raw: Path) -> None:
    files = discover(synth_raw)
    assert files and all(f.table is not None for f in files)
    mco = next(f for f in files if f.name == "T_MCO20B.csv")
    assert (mco.table_name, mco.year, mco.recognised_by) == ("T_MCOaaB", 2020, "name")
    assert (mco.encoding, mco.delimiter, mco.columns[0]) == ("utf-8", ";", "AGE_ANN")
    assert mco.sha256 == hashlib.sha256(mco.path.read_bytes()).hexdigest()
    assert mco.data_lines == mco.path.read_bytes().count(b"\n") - 1


def test_lowercase_gzip_and_header_only_suggests(tmp_path: Path) -> None:
    ben = "BEN_NIR_PSA,BEN_RNG_GEM,BEN_NAI_ANN,BEN_SEX_COD\nA,1,1950,1\nB,1,1960,2"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ir_ben_r.csv.gz").write_bytes(gzip.compress(ben.encode()))
    header = "ETA_NUM;RSA_NUM;DGN_PAL;DGN_REL;SEJ_NBJ"
    (tmp_path / "extract_mco_b_2019.csv").write_text(header + "\n1;2;I10;;3\n")
    (tmp_path / "mystery.csv").write_text("FOO;BAR\n1;2\n")
    (tmp_path / ".hidden.csv").write_text("x\n")
    files = {f.name: f for f in discover(tmp_path)}
    assert set(files) == {"sub/ir_ben_r.csv.gz", "extract_mco_b_2019.csv", "mystery.csv"}
    gz = files["sub/ir_ben_r.csv.gz"]
    assert (gz.table_name, gz.compression, gz.delimiter, gz.data_lines) == (
        "IR_BEN_R",
        "gzip",
        ",",
        2,
    )
    mystery = files["mystery.csv"]
    assert mystery.table is None and "not a registry table" in (mystery.reason or "")
    assert files["extract_mco_b_2019.csv"].table is None


def test_a_mapping_files_a_file_explicitly(tmp_path: Path) -> None:
    from sndslab.registry import get_table

    cols = get_table("T_MCOaaD").column_names
    (tmp_path / "diagnostics_2021.csv").write_text(";".join(cols) + "\n")
    (f,) = discover(tmp_path)
    assert f.table is None and "resembles T_MCOaaD" in (f.reason or "")
    for key in ("diagnostics_2021.csv", "diagnostics_2021"):
        (f,) = discover(tmp_path, {key: "t_mcoaad"})
        assert (f.table_name, f.year, f.recognised_by) == ("T_MCOaaD", 2021, "map")


def test_a_bad_mapping_is_a_usage_error(tmp_path: Path) -> None:
    from sndslab.errors import InvalidArgumentError

    (tmp_path / "a.csv").write_text("X\n1\n")
    with pytest.raises(InvalidArgumentError, match="NOT_A_TABLE"):
        discover(tmp_path, {"a.csv": "NOT_A_TABLE"})
    with pytest.raises(InvalidArgumentError, match="not found"):
        discover(tmp_path, {"b.csv": "IR_BEN_R"})


@pytest.mark.parametrize(
    ("name", "snds"),
    [
        ("T_SSRaaCSTC.csv", "T_SSRaaCSTC"),  # SSR outpatient, not MCO
        ("T_SSR19FBSTC.csv", "T_SSRaaFBSTC"),
        ("T_SSRaaFCSTC.csv", "T_SSRaaFCSTC"),
        ("EB_PRS_F.csv", "EB_PRS_F"),  # EGB sample, not DCIR
        ("IR_IBA_R.csv", "IR_IBA_R"),  # not IR_BEN_R
        ("NS_PRS_F_2019.csv", "NS_PRS_F"),  # DCIRS
    ],
)
def test_snds_tables_outside_the_registry_are_refused_by_name(
    tmp_path: Path, name: str, snds: str
) -> None:
    """The Health Data Hub's public synthetic CSVs: files filed by header into the wrong table."""
    from sndslab.registry import get_table

    lookalike = {"T_SSR": "T_MCOaaCSTC", "EB_": "ER_PRS_F", "IR_": "IR_BEN_R", "NS_": "ER_PRS_F"}
    table = next(v for k, v in lookalike.items() if name.startswith(k))
    (tmp_path / name).write_text(";".join(get_table(table).column_names) + "\n")
    (f,) = discover(tmp_path)
    assert f.table is None
    assert (f.reason or "").startswith(f"{snds} is an SNDS table that sndslab does not ingest")


def test_encoding_sniff(tmp_path: Path) -> None:
    (tmp_path / "IR_DPT_V.csv").write_bytes("GEO_DPT_LIB\nLa Réunion\n".encode("latin-1"))
    (tmp_path / "IR_SPE_V.csv").write_bytes("PFS_SPE_LIB\nGénéraliste\n".encode())
    files = {f.name: f.encoding for f in discover(tmp_path)}
    assert files == {"IR_DPT_V.csv": "latin-1", "IR_SPE_V.csv": "utf-8"}


@pytest.mark.parametrize(
    ("chunks", "lines", "blank", "data"),
    [
        ([b""], 0, [], 0),
        ([b"H\n"], 1, [], 0),
        ([b"H\na\nb"], 3, [], 2),
        ([b"H\r\na\r\n\r\nb\r\n"], 4, [3], 2),
        ([b"H\na\n", b"\n", b"\nb\n"], 5, [3, 4], 2),
        ([b"H\na", b"\n\n"], 3, [3], 1),
    ],
)
def test_line_counter(chunks: list[bytes], lines: int, blank: list[int], data: int) -> None:
    c = LineCounter()
    for chunk in chunks:
        c.feed(chunk)
    assert (c.lines, c.blank_lines, c.data_lines()) == (lines, blank, data)


def test_account_invariant_is_enforced() -> None:
    acc = FileAccount(file="f.csv", table="IR_BEN_R", year=None, sha256="0", bytes=1)
    acc.rows_in, acc.staged, acc.quarantined = 3, 1, {"type_error": 1}
    with pytest.raises(AccountingError, match="does not add up"):
        acc.check()
    acc.quarantined["malformed_line"] = 1
    assert acc.check() is acc
    assert FileAccount.from_dict(acc.to_dict()) == acc
