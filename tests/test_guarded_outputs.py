"""No command writes into, or deletes, its own input or a directory sndslab did not create.

Each case is one the reliability audit hit: ``export omop L --out L --overwrite`` deleted the
lake, ``export meds L --out L/events --overwrite`` replaced its events, ``ingest --lake DIR``
deleted an unrelated file in ``DIR/int/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app

runner = CliRunner()


def _refused(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert needle in result.output, result.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("guarded") / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--patients", "200"])
    assert result.exit_code == 0, result.output
    return out


def _lake_intact(lake: Path) -> None:
    opened = sndslab.open_lake(lake)
    assert "int.persons" in opened.tables("int")
    assert "events.events" in opened.tables("events")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["export", "omop", "{lake}", "--out", "{lake}", "--overwrite"], "is the input"),
        (["export", "meds", "{lake}", "--out", "{lake}/events", "--overwrite"], "inside the input"),
        (["export", "omop", "{lake}", "--out", "{lake}/omop"], "inside the input"),
        (["export", "meds", "{lake}", "--out", "{demo}", "--overwrite"], "contains the input"),
        (["synth", "--out", "{lake}", "--overwrite", "--patients", "10"], "sndslab lake"),
        (["ingest", "{demo}/synth/raw", "--lake", "{demo}/synth/raw/lake"], "inside the input"),
        (["ingest", "{demo}/synth/raw", "--lake", "{demo}/synth"], "contains the input"),
    ],
)
def test_outputs_never_overlap_inputs(demo: Path, args: list[str], needle: str) -> None:
    lake = demo / "lake"
    _refused([a.format(lake=lake, demo=demo) for a in args], needle)
    _lake_intact(lake)


def test_overwrite_only_replaces_sndslab_outputs(tmp_path: Path, demo: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    for args in (
        ["demo", "--out", str(mine), "--overwrite", "--patients", "10"],
        ["synth", "--out", str(mine), "--overwrite", "--patients", "10"],
        ["export", "omop", str(demo / "lake"), "--out", str(mine), "--overwrite"],
    ):
        _refused(args, "not created by sndslab")
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_ingest_refuses_a_directory_that_is_not_a_lake(tmp_path: Path, demo: Path) -> None:
    target = tmp_path / "notalake"
    (target / "int").mkdir(parents=True)
    (target / "int" / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["ingest", str(demo / "synth" / "raw"), "--lake", str(target)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "not an sndslab lake" in result.output, result.output
    assert (target / "int" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in target.iterdir()) == ["int"]


def test_exports_are_marked_and_can_be_replaced(tmp_path: Path, demo: Path) -> None:
    out = tmp_path / "meds"
    first = runner.invoke(app, ["export", "meds", str(demo / "lake"), "--out", str(out)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(
        app, ["export", "meds", str(demo / "lake"), "--out", str(out), "--overwrite"]
    )
    assert again.exit_code == 0, again.output
