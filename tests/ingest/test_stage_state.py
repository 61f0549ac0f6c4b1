"""Incremental staging: idempotent re-runs, new files only, crash safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.ingest import _stage, stage

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
    stage(raw, lake)
    (raw / "IR_BEN_R.csv").write_text(HEADER + "Z1;1;1970\n")
    result = stage(raw, lake)
    (acc,) = result.accounts
    assert acc.staged == 1 and any("replaces" in n for n in acc.notes)
    assert len(list((lake / "stg" / "IR_BEN_R").rglob("*.parquet"))) == 1


def test_crash_mid_run_leaves_lake_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, lake = _raw(tmp_path, 1), tmp_path / "lake"
    stage(raw, lake)
    before = _snapshot(lake)
    for k in (1, 2):
        (raw / f"KI_ECD_R_{2019 + k}.csv").write_text(ECD + f"N{k};1;C349\n")

    real = _stage.stage_file

    def crashing(*args: object, **kwargs: object) -> object:
        # files are staged concurrently: crash on one file, whatever the completion order
        rf = args[1]
        if getattr(rf, "name", "") == "KI_ECD_R_2021.csv":
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_stage, "stage_file", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        stage(raw, lake)
    after = _snapshot(lake)
    for name, content in before.items():  # earlier parts untouched
        if not name.startswith("_state"):
            assert after[name] == content
    assert not list(lake.glob(".staging-*"))
    monkeypatch.setattr(_stage, "stage_file", real)
    result = stage(raw, lake)
    assert sorted(a.file for a in result.new) == ["KI_ECD_R_2021.csv"]
    assert {a.status for a in result.accounts} == {"staged"}
    assert len(list((lake / "stg").rglob("*.parquet"))) == 3
