"""The lake's extract follows its raw directory: new, changed, removed and renamed files, and
other extracts refused unless appended or replaced (issue: "Incremental ingest that explains
itself")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sndslab.errors import SndslabError
from sndslab.ingest import stage
from sndslab.lake import LakePaths, commit_numbers, open_lake, rollback

BEN = "BEN_NIR_PSA;BEN_RNG_GEM;BEN_NAI_ANN\n"
ECD = "BEN_IDT_ANO;CER_LIG_NUM;ECD_CIM_COD\n"


def _raw(root: Path, tag: str = "P") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "IR_BEN_R.csv").write_text(BEN + "".join(f"{tag}{i};1;195{i}\n" for i in range(4)))
    (root / "KI_ECD_R_2020.csv").write_text(ECD + "".join(f"{tag}{i};1;C34\n" for i in range(3)))
    return root


def _rows(lake: Path) -> dict[str, int]:
    with open_lake(lake) as opened:
        return {t: opened.table(t).count() for t in opened.tables("stg")}


def _files(lake: Path, table: str) -> list[str]:
    with open_lake(lake) as opened:
        got = opened.sql(f"SELECT DISTINCT _source_file AS f FROM {table}").to_arrow()
        return sorted(got.column("f").to_pylist())


def test_a_removed_file_is_withdrawn_and_comes_back_with_a_rollback(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path / "raw"), tmp_path / "lake"
    stage(raw, lake)
    assert _rows(lake) == {"stg.IR_BEN_R": 4, "stg.KI_ECD_R": 3}
    (raw / "KI_ECD_R_2020.csv").unlink()
    result = stage(raw, lake)
    assert result.changes["removed"] == ["KI_ECD_R_2020.csv"]
    assert result.changes["unchanged"] == ["IR_BEN_R.csv"]
    assert _rows(lake) == {"stg.IR_BEN_R": 4}
    rollback(LakePaths(str(lake)))
    assert _rows(lake) == {"stg.IR_BEN_R": 4, "stg.KI_ECD_R": 3}


def test_a_renamed_file_is_staged_under_its_new_name(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path / "raw"), tmp_path / "lake"
    stage(raw, lake)
    (raw / "sub").mkdir()
    shutil.move(raw / "KI_ECD_R_2020.csv", raw / "sub" / "KI_ECD_R_2020.csv")
    result = stage(raw, lake)
    assert result.changes["renamed"] == ["sub/KI_ECD_R_2020.csv"]
    assert result.changes["removed"] == ["KI_ECD_R_2020.csv"]
    (acc,) = [a for a in result.accounts if a.file == "sub/KI_ECD_R_2020.csv"]
    assert acc.status == "staged" and "renamed from KI_ECD_R_2020.csv" in acc.notes
    assert _rows(lake) == {"stg.IR_BEN_R": 4, "stg.KI_ECD_R": 3}
    assert _files(lake, "stg.KI_ECD_R") == ["sub/KI_ECD_R_2020.csv"]


def test_a_copy_is_a_duplicate_of_the_file_the_lake_holds(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path / "raw"), tmp_path / "lake"
    stage(raw, lake)
    (raw / "A").mkdir()
    shutil.copy(raw / "IR_BEN_R.csv", raw / "A" / "IR_BEN_R.csv")  # sorts first
    result = stage(raw, lake)
    by_file = {a.file: a for a in result.accounts}
    assert by_file["A/IR_BEN_R.csv"].status == "skipped_duplicate"
    assert by_file["A/IR_BEN_R.csv"].duplicate_of == "IR_BEN_R.csv"
    assert "reused" in by_file["IR_BEN_R.csv"].notes
    assert _files(lake, "stg.IR_BEN_R") == ["IR_BEN_R.csv"]


def test_an_identical_rerun_publishes_nothing(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path / "raw"), tmp_path / "lake"
    stage(raw, lake)
    again = stage(raw, lake)
    assert again.commit is None and commit_numbers(LakePaths(str(lake))) == [1]
    assert {a.status for a in again.accounts} == {"staged"}


def test_another_directory_is_refused_unless_appended_or_replaced(tmp_path: Path) -> None:
    first, lake = _raw(tmp_path / "first"), tmp_path / "lake"
    stage(first, lake)
    second = tmp_path / "second"
    second.mkdir()
    (second / "KI_ECD_R_2021.csv").write_text(ECD + "Q1;1;I21\n")
    with pytest.raises(SndslabError, match=r"another raw directory: --append-extract adds"):
        stage(second, lake)
    assert _rows(lake) == {"stg.IR_BEN_R": 4, "stg.KI_ECD_R": 3}
    appended = stage(second, lake, append_extract=True)
    assert appended.changes["new"] == ["KI_ECD_R_2021.csv"]
    assert _rows(lake) == {"stg.IR_BEN_R": 4, "stg.KI_ECD_R": 4}
    assert appended.raw_dirs == [str(first.resolve()), str(second.resolve())]
    # each directory then syncs its own files: removing one from the second leaves the first's
    (second / "KI_ECD_R_2021.csv").unlink()
    stage(second, lake)
    assert _rows(lake) == {"stg.IR_BEN_R": 4, "stg.KI_ECD_R": 3}
    # a clash of file names between directories is refused
    clash = _raw(tmp_path / "third", tag="Z")
    with pytest.raises(SndslabError, match=r"2 file name\(s\) .* already in the lake"):
        stage(clash, lake, append_extract=True)
    replaced = stage(clash, lake, replace_extract=True)
    assert replaced.raw_dirs == [str(clash.resolve())]
    assert _files(lake, "stg.IR_BEN_R") == ["IR_BEN_R.csv"] and _rows(lake)["stg.IR_BEN_R"] == 4
    with open_lake(lake) as opened:
        ids = opened.sql("SELECT min(BEN_NIR_PSA) AS m FROM stg.IR_BEN_R").to_arrow()
    assert ids.column("m").to_pylist() == ["Z0"]


def test_every_file_changed_in_place_looks_like_another_extract(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path / "raw"), tmp_path / "lake"
    stage(raw, lake)
    _raw(raw, tag="X")  # same names, other content
    with pytest.raises(SndslabError, match=r"none of the 2 file\(s\) .* is unchanged"):
        stage(raw, lake)
    assert _files(lake, "stg.IR_BEN_R") == ["IR_BEN_R.csv"]
    result = stage(raw, lake, replace_extract=True)
    assert sorted(result.changes["changed"]) == ["IR_BEN_R.csv", "KI_ECD_R_2020.csv"]
    # one changed file among unchanged ones is an ordinary update
    (raw / "IR_BEN_R.csv").write_text(BEN + "Y1;1;1960\n")
    assert stage(raw, lake).changes["changed"] == ["IR_BEN_R.csv"]
    with pytest.raises(SndslabError, match="exclude each other"):
        stage(raw, lake, append_extract=True, replace_extract=True)
