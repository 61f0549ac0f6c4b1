"""Incremental staging: idempotent re-runs, new files only, crash safety."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sndslab.errors import SndslabError
from sndslab.ingest import _stage, stage
from sndslab.lake import LakeLayoutError, open_lake, part_id

HEADER = "BEN_NIR_PSA;BEN_RNG_GEM;BEN_NAI_ANN\n"
ECD = "BEN_IDT_ANO;CER_LIG_NUM;ECD_CIM_COD\n"


def _raw(tmp_path: Path, n_files: int) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for k in range(n_files):
        name = f"KI_ECD_R_{2019 + k}.csv" if k else "IR_BEN_R.csv"
        body = HEADER if not k else ECD
        (raw / name).write_text(body + "".join(f"P{k}{i};1;19{50 + i}\n" for i in range(5)))
    return raw


def _snapshot(lake: Path) -> dict[str, bytes]:
    return {
        p.relative_to(lake).as_posix(): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }


def test_rerun_is_idempotent_and_new_files_only(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path, 2), tmp_path / "lake"
    first = stage(raw, lake)
    assert [a.status for a in first.accounts] == ["staged", "staged"]
    assert len(first.new) == 2
    before = _snapshot(lake)
    again = stage(raw, lake)
    assert _snapshot(lake) == before
    assert again.new == []
    assert [a.staged for a in again.accounts] == [a.staged for a in first.accounts]
    assert again.totals["staged"] == first.totals["staged"]

    (raw / "KI_ECD_R_2021.csv").write_text(ECD + "Q1;1;C349\n")
    third = stage(raw, lake)
    assert [a.file for a in third.new] == ["KI_ECD_R_2021.csv"]
    assert (lake / "stg" / "KI_ECD_R" / "year=2021").is_dir()
    for name, content in before.items():
        if not name.startswith("_state"):
            assert _snapshot(lake)[name] == content


def test_changed_file_replaces_its_previous_parts(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path, 1), tmp_path / "lake"
    stage(raw, lake, keep=2)
    (raw / "IR_BEN_R.csv").write_text(HEADER + "Z1;1;1970\n")
    result = stage(raw, lake)
    (acc,) = result.accounts
    assert acc.staged == 1 and any("replaces" in n for n in acc.notes)
    assert result.changes["changed"] == ["IR_BEN_R.csv"]
    with open_lake(lake) as opened:
        assert opened.table("stg.IR_BEN_R").count() == 1
    # the previous parts stay with the commit before (rollback), the ones before go
    assert len(list((lake / "stg" / "IR_BEN_R").rglob("*.parquet"))) == 2
    (raw / "IR_BEN_R.csv").write_text(HEADER + "Z2;1;1971\n")
    stage(raw, lake)
    assert len(list((lake / "stg" / "IR_BEN_R").rglob("*.parquet"))) == 2


def test_crash_mid_run_leaves_lake_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, lake = _raw(tmp_path, 1), tmp_path / "lake"
    stage(raw, lake)
    before = _snapshot(lake)
    for k in (1, 2):
        (raw / f"KI_ECD_R_{2019 + k}.csv").write_text(ECD + f"N{k};1;C349\n")

    real = _stage.stage_file

    def crashing(*args: object, **kwargs: object) -> object:
        # files are staged concurrently: crash on one file, whatever the completion order,
        # after its parts are written and before the state records them
        acc = real(*args, **kwargs)  # type: ignore[arg-type]
        if getattr(args[1], "name", "") == "KI_ECD_R_2021.csv":
            raise RuntimeError("simulated crash")
        return acc

    monkeypatch.setattr(_stage, "stage_file", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        stage(raw, lake)
    after = _snapshot(lake)
    for name, content in before.items():  # earlier parts untouched
        if not name.startswith("_state"):
            assert after[name] == content
    assert not (lake / ".tmp").exists()
    # the crashed file's part directory is there, but not listed: invisible to readers
    orphan = lake / "stg" / "KI_ECD_R" / "year=2021"
    assert [p.name for p in orphan.iterdir()] == [_id16(raw / "KI_ECD_R_2021.csv")]
    assert "stg/KI_ECD_R/year=2021" not in (lake / "_state" / "files.json").read_text()
    monkeypatch.setattr(_stage, "stage_file", real)
    result = stage(raw, lake)
    assert sorted(a.file for a in result.new) == ["KI_ECD_R_2021.csv"]
    assert {a.status for a in result.accounts} == {"staged"}
    assert len(list((lake / "stg").rglob("*.parquet"))) == 3
    assert result.notes == [
        "1 part director(ies) not listed in the state deleted (left by an interrupted run)"
    ]


def _id16(path: Path) -> str:
    return part_id(path.name, hashlib.sha256(path.read_bytes()).hexdigest())


def test_unlisted_part_directories_are_deleted(tmp_path: Path) -> None:
    raw, lake = _raw(tmp_path, 2), tmp_path / "lake"
    first = stage(raw, lake)
    assert first.notes == []
    listed = sorted(p for a in first.accounts for p in a.parts)
    assert listed == [
        f"stg/IR_BEN_R/year=none/{_id16(raw / 'IR_BEN_R.csv')}",
        f"stg/KI_ECD_R/year=2020/{_id16(raw / 'KI_ECD_R_2020.csv')}",
    ]
    stray = [
        lake / "stg" / "IR_BEN_R" / "year=none" / "0123456789abcdef",
        lake / "stg" / "KI_ECD_R" / "year=2020" / ".0123456789abcdef.fix-1234",
        lake / "quarantine" / "IR_BEN_R" / "fedcba9876543210",
    ]
    for d in stray:
        d.mkdir(parents=True)
        (d / "part-00000.parquet").write_bytes(b"junk")
    again = stage(raw, lake)
    assert again.notes == [
        "3 part director(ies) not listed in the state deleted (left by an interrupted run)"
    ]
    assert not any(d.exists() for d in stray)
    assert all((lake / p).is_dir() for p in listed)


def test_old_layout_and_old_state_are_refused(tmp_path: Path) -> None:
    raw = _raw(tmp_path, 1)
    old = tmp_path / "old"
    (old / "stg" / "IR_BEN_R" / "year=none").mkdir(parents=True)
    with pytest.raises(LakeLayoutError, match="layout version 1"):
        stage(raw, old)
    lake = tmp_path / "lake"
    stage(raw, lake)
    state = lake / "_state" / "files.json"
    data = json.loads(state.read_text())
    assert data["version"] == 3
    state.write_text(json.dumps({**data, "version": 1}))
    with pytest.raises(SndslabError, match=r"version 1.*rebuild"):
        stage(raw, lake)
