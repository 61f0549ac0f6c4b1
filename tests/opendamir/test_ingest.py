"""Reading real-layout Open DAMIR files: quirks handled and counted, bad input quarantined or
refused with a clear message, accounting that adds up, atomic and idempotent publication."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sndslab import open_lake
from sndslab.cli import app
from sndslab.errors import InvalidArgumentError
from sndslab.ingest._discover import discover, is_opendamir, names_a_table
from sndslab.opendamir import PUBLIC_COLUMNS, find_opendamir_files, ingest_opendamir

from .conftest import public_line


def _rows(lake: Path, query: str) -> list[dict[str, object]]:
    with open_lake(lake) as lk:
        return lk.sql(query).to_arrow().to_pylist()


def test_quirks_are_handled_and_counted(tmp_path: Path, write_month: Callable[..., Path]) -> None:
    raw = tmp_path / "raw"
    write_month(
        raw / "A201901.csv.gz",
        [
            public_line(),
            public_line(PRS_PAI_MNT="23,21", PRS_REM_MNT="10,5"),  # decimal commas
            public_line(AGE_BEN_SNDS=99, BEN_SEX_COD=9, BEN_RES_REG=99),  # unknown codes
            public_line(PRS_ACT_QTE=-1, PRS_PAI_MNT="-25.00"),  # regularisation line
        ],
    )
    result = ingest_opendamir(raw, tmp_path / "lake")

    assert (result.rows_in, result.kept, result.quarantined) == (4, 4, {})
    quirks = result.quirks
    assert quirks["decimal_comma"] == 1
    assert quirks["regularisation"] == 1
    assert (quirks["unknown_AGE_BEN_SNDS"], quirks["unknown_BEN_SEX_COD"]) == (1, 1)
    assert quirks["unknown_BEN_RES_REG"] == 1
    rows = _rows(
        tmp_path / "lake",
        "SELECT PRS_PAI_MNT, PRS_REM_MNT, regularisation, AGE_BEN_SNDS_LIB, PRS_NAT_LIB, "
        "_source_file FROM opendamir.prestations ORDER BY PRS_PAI_MNT",
    )
    assert [r["PRS_PAI_MNT"] for r in rows] == [Decimal(-25), Decimal("23.21"), 75, 75]
    assert rows[1]["PRS_REM_MNT"] == Decimal("10.50")
    assert [r["regularisation"] for r in rows] == [True, False, False, False]
    assert {r["AGE_BEN_SNDS_LIB"] for r in rows} == {"30 - 39 ANS", "AGE INCONNU"}
    assert {r["PRS_NAT_LIB"] for r in rows} == {"CONSULTATION COTEE C"}
    assert {r["_source_file"] for r in rows} == {"A201901.csv.gz"}


def test_bad_lines_are_quarantined_with_their_reason(
    tmp_path: Path, write_month: Callable[..., Path]
) -> None:
    raw = tmp_path / "raw"
    write_month(
        raw / "A201902.csv",
        [
            public_line(FLX_ANN_MOI=201902),
            "201902;11;30\n",  # broken line: 3 fields
            public_line(FLX_ANN_MOI=201902, PRS_NAT="C1"),  # an integer column that is not one
            public_line(FLX_ANN_MOI=201902, PRS_PAI_MNT="12.x"),  # an amount that is not one
            public_line(FLX_ANN_MOI=201902, BEN_RES_REG=42),  # a region outside the lexicon
            public_line(FLX_ANN_MOI=201812),  # a line of another flow month
        ],
    )
    result = ingest_opendamir(raw, tmp_path / "lake")

    assert result.rows_in == 6 and result.kept == 1
    assert result.quarantined == {
        "flow_month_mismatch": 1,
        "malformed_line": 1,
        "type_error:PRS_NAT": 1,
        "type_error:PRS_PAI_MNT": 1,
        "unknown_code:BEN_RES_REG": 1,
    }
    with open_lake(tmp_path / "lake") as lk:
        q = lk.manifest("opendamir").tables["quarantine"]
        assert q.rows == 5
    broken = next(f for f in result.files if f.file == "A201902.csv")
    assert broken.rows_in == broken.kept + broken.quarantined_total


def test_a_file_lacking_columns_is_refused_whole(
    tmp_path: Path, write_month: Callable[..., Path]
) -> None:
    raw = tmp_path / "raw"
    write_month(raw / "A201903.csv", ["201903;30;1111;11\n", "201903;40;1111;11\n"],
                header="FLX_ANN_MOI;AGE_BEN_SNDS;PRS_NAT;BEN_RES_REG\n")  # fmt: skip
    write_month(raw / "A201904.csv", [public_line(FLX_ANN_MOI=201904)])
    result = ingest_opendamir(raw, tmp_path / "lake")

    refused = [f for f in result.files if f.status == "refused"]
    assert [f.file for f in refused] == ["A201903.csv"]
    assert refused[0].refused_rows == 2
    assert "lacks 51 of the 55 public columns" in refused[0].message
    assert result.kept == 1


def test_the_cli_says_why_a_file_was_refused_without_a_traceback(
    tmp_path: Path, write_month: Callable[..., Path]
) -> None:
    raw = tmp_path / "raw"
    write_month(raw / "A201903.csv", ["201903;30;1111;11\n"],
                header="FLX_ANN_MOI;AGE_BEN_SNDS;PRS_NAT;BEN_RES_REG\n")  # fmt: skip
    result = CliRunner().invoke(app, ["ingest", str(raw), "--lake", str(tmp_path / "lake")])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(errors) == 1 and "lacks 51 of the 55 public columns" in errors[0]
    again = ["ingest", str(raw), "--lake", str(tmp_path / "lake"), "--allow-refused"]
    assert CliRunner().invoke(app, again).exit_code == 0


def test_newer_files_with_an_extra_column_and_a_trailing_separator(
    tmp_path: Path, write_month: Callable[..., Path]
) -> None:
    header = ";".join([*PUBLIC_COLUMNS, "NEW_COL"]) + ";\n"
    raw = tmp_path / "raw"
    write_month(raw / "A202501.csv.gz", [public_line(FLX_ANN_MOI=202501).rstrip("\n") + ";Z;\n"],
                header=header)  # fmt: skip
    result = ingest_opendamir(raw, tmp_path / "lake")
    assert result.kept == 1
    assert result.files[0].ignored_columns == ["NEW_COL", "(empty)"]


def test_a_rerun_on_the_same_files_publishes_nothing(
    tmp_path: Path, write_month: Callable[..., Path]
) -> None:
    raw = tmp_path / "raw"
    write_month(raw / "A201901.csv", [public_line()])
    first = ingest_opendamir(raw, tmp_path / "lake")
    with open_lake(tmp_path / "lake") as lk:
        commits = len(lk.history())
    again = ingest_opendamir(raw, tmp_path / "lake")
    assert first.published and not again.published
    assert again.generation == first.generation and again.kept == first.kept
    with open_lake(tmp_path / "lake") as lk:
        assert len(lk.history()) == commits
    write_month(raw / "A201902.csv", [public_line(FLX_ANN_MOI=201902)])
    third = ingest_opendamir(raw, tmp_path / "lake")
    assert third.published and third.kept == 2


def test_a_failed_run_leaves_the_published_layer(
    tmp_path: Path, write_month: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    write_month(raw / "A201901.csv", [public_line()])
    ingest_opendamir(raw, tmp_path / "lake")
    write_month(raw / "A201902.csv", [public_line(FLX_ANN_MOI=201902)])
    import sndslab.opendamir._ingest as mod

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mod, "_empty_prestations", boom)
    monkeypatch.setattr(mod.Path, "glob", lambda self, pattern: iter(()))
    with pytest.raises(KeyboardInterrupt):
        ingest_opendamir(raw, tmp_path / "lake")
    monkeypatch.undo()
    rows = _rows(tmp_path / "lake", "SELECT count(*) AS n FROM opendamir.prestations")
    assert rows == [{"n": 1}]


def test_recognised_by_name_and_header(tmp_path: Path, write_month: Callable[..., Path]) -> None:
    raw = tmp_path / "raw"
    write_month(raw / "A201901.csv", [public_line()])
    write_month(raw / "A201902.csv", ["1;2\n"], header="BEN_NIR_PSA;EXE_SOI_DTD\n")
    write_month(raw / "B201901.csv", [public_line()])
    assert [p.name for p in find_opendamir_files(raw)] == ["A201901.csv"]
    # the CNAM staging leaves Open DAMIR files out and still sees the others
    assert sorted(f.name for f in discover(raw)) == ["A201902.csv", "B201901.csv"]
    assert is_opendamir("A201901.csv", PUBLIC_COLUMNS)
    assert names_a_table("IR_BEN_R.csv") and not names_a_table("A201901.csv")
    with pytest.raises(InvalidArgumentError, match="no Open DAMIR file"):
        ingest_opendamir(tmp_path / "raw" / "A201902.csv", tmp_path / "lake")


@settings(max_examples=10, deadline=None)
@given(
    cents=st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=8),
    commas=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_amounts_read_exactly_with_a_comma_or_a_point(
    tmp_path_factory: pytest.TempPathFactory, cents: list[int], commas: list[bool]
) -> None:
    tmp = tmp_path_factory.mktemp("amounts")
    lines = []
    for c, comma in zip(cents, commas, strict=False):
        text = f"{Decimal(c) / 100:.2f}"
        lines.append(public_line(PRS_PAI_MNT=text.replace(".", ",") if comma else text))
    path = tmp / "raw" / "A201901.csv"
    path.parent.mkdir()
    path.write_text(";".join(PUBLIC_COLUMNS) + "\n" + "".join(lines), encoding="utf-8")
    result = ingest_opendamir(path.parent, tmp / "lake")
    assert result.kept == len(cents)
    assert result.quirks["decimal_comma"] == sum(
        1 for c, comma in zip(cents, commas, strict=False) if comma
    ) + 0 * len(cents)
    total = _rows(tmp / "lake", "SELECT sum(PRS_PAI_MNT) AS s, sum(CAST(regularisation AS INT)) "
                  "AS neg FROM opendamir.prestations")[0]  # fmt: skip
    assert total["s"] == Decimal(sum(cents)) / 100
    assert total["neg"] == sum(1 for c in cents if c < 0)


def test_a_folder_with_open_damir_files_beside_a_cnam_extract(
    synth_extract: Path, tmp_path: Path, write_month: Callable[..., Path]
) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(synth_extract / "raw", raw)
    write_month(raw / "opendamir" / "A201901.csv.gz", [public_line(), public_line(SOI_MOI=2)])
    lake = tmp_path / "lake"
    result = CliRunner().invoke(app, ["ingest", str(raw), "--lake", str(lake)])
    assert result.exit_code == 0, result.output
    with open_lake(lake) as lk:
        assert lk.sql("SELECT count(*) AS n FROM opendamir.prestations").to_arrow().to_pylist() == [
            {"n": 2}
        ]
        assert lk.table("int.persons").count() > 0
        files = [f["file"] for f in lk.report["files"]]
    # the CNAM ingest neither staged nor refused the Open DAMIR file
    assert files and not [f for f in files if "A201901" in f]
