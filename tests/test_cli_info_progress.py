"""``sndslab lake info``; progress over every phase of ingest, events and the exports;
``--memory-limit`` and ``--threads`` on every command that runs an engine, reaching it."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import sndslab
import sndslab.events
import sndslab.ingest
from sndslab.cli import _check_memory_limit, _engine, _lake_info, app
from sndslab.engines import DuckDBEngine
from sndslab.errors import InvalidArgumentError, SndslabError

runner = CliRunner()

#: Commands that run an engine, with the arguments they need besides the options.
HEAVY = ("ingest", "events", "export omop", "export meds", "demo")


def _settings(engine: Any) -> tuple[str, int]:
    """(memory_limit, threads) of a connection of ``engine`` as DuckDB reports them (opened
    without its spill directory, so nothing is written under a lake)."""
    con = dataclasses.replace(engine, temp_directory=None).connect()
    try:
        return (
            str(con.scalar("SELECT current_setting('memory_limit')")),
            int(con.scalar("SELECT current_setting('threads')")),
        )
    finally:
        con.close()


def _spy(seen: dict[str, Any], key: str, real: Callable[..., Any] | None) -> Callable[..., Any]:
    """Records the ``engine`` it is called with, then runs ``real`` (or stops the command)."""

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen[key] = kwargs["engine"]
        if real is None:
            raise SndslabError("stopped by the test")
        return real(*args, **kwargs)

    return spy


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, Any]]:
    """``sndslab demo`` on 150 persons with ``--memory-limit 1GiB --threads 1``, the engines
    its steps got recorded: (output directory, command output, engines by step)."""
    out = tmp_path_factory.mktemp("demo-options") / "demo"
    seen: dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as mp:
        for module, name in (
            (sndslab.ingest, "ingest"),
            (sndslab.events, "extract_events"),
            (sndslab.events, "to_omop"),
        ):
            mp.setattr(module, name, _spy(seen, name, getattr(module, name)))
        args = ["demo", "--out", str(out), "--patients", "150"]
        result = runner.invoke(app, [*args, "--memory-limit", "1GiB", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return out, result.output, seen


# -- the engine options ------------------------------------------------------------------------
def test_engine_builder_configures_duckdb(tmp_path: Path) -> None:
    assert _engine("duckdb") == "duckdb"  # no option: the commands' default engine, unchanged
    eng = _engine("duckdb", None, "1GiB", 2, lake=tmp_path)
    assert isinstance(eng, DuckDBEngine)
    assert eng.temp_directory == tmp_path / ".tmp"
    con = eng.connect()
    try:
        assert con.scalar("SELECT current_setting('memory_limit')") == "1.0 GiB"
        assert con.scalar("SELECT current_setting('threads')") == 2
    finally:
        con.close()
    assert _settings(_engine("duckdb", None, "512MiB", None))[0] == "512.0 MiB"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("oracle",), "--engine"),
        (("duckdb", "spark://h:7077"), "--spark-master"),
        (("duckdb", None, "lots"), "--memory-limit"),
        (("duckdb", None, "-1GB"), "--memory-limit"),
        (("spark", None, "1.5GB"), "whole number"),
        (("spark", None, "2GiB"), "whole number"),
        (("duckdb", None, None, 0), "--threads"),
    ],
)
def test_engine_builder_refuses_bad_options(args: tuple[Any, ...], needle: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(needle)):
        _engine(*args)


def test_memory_sizes() -> None:
    for ok in ("4GB", "512 MB", "1.5GiB", "100kb", "2tb", "1000B"):
        _check_memory_limit(ok, "duckdb")
    for ok in ("4GB", "512mb"):
        _check_memory_limit(ok, "spark")
    for bad in ("4", "GB", "4 G", "four GB", "4GB;"):
        with pytest.raises(InvalidArgumentError):
            _check_memory_limit(bad, "duckdb")


@pytest.mark.parametrize("command", HEAVY)
def test_every_heavy_command_has_the_options(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "--memory-limit" in result.output and "--threads" in result.output


@pytest.mark.parametrize("command", HEAVY)
@pytest.mark.parametrize(("option", "value"), [("--threads", "0"), ("--memory-limit", "lots")])
def test_bad_options_refused_before_any_work(
    command: str, option: str, value: str, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    target = tmp_path / "target"
    args = {
        "ingest": ["ingest", str(raw), "--lake", str(target)],
        "events": ["events", str(target)],
        "export omop": ["export", "omop", str(tmp_path), "--out", str(target)],
        "export meds": ["export", "meds", str(tmp_path), "--out", str(target)],
        "demo": ["demo", "--out", str(target)],
    }[command]
    result = runner.invoke(app, [*args, option, value])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and option in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not target.exists()


@pytest.mark.parametrize("command", ["ingest", "events", "export omop", "export meds"])
def test_options_reach_the_engine(
    command: str, demo: tuple[Path, str, dict[str, Any]], tmp_path: Path, monkeypatch: Any
) -> None:
    """The command calls its step with an engine configured by the options (the step is
    stopped by the test: only the wiring is checked here; the demo runs the real steps)."""
    out, _, _ = demo
    lake = out / "lake"
    module, name, args = {
        "ingest": (
            sndslab.ingest,
            "ingest",
            ["ingest", str(out / "synth" / "raw"), "--lake", str(tmp_path / "lake")],
        ),
        "events": (sndslab.events, "extract_events", ["events", str(lake)]),
        "export omop": (
            sndslab.events,
            "to_omop",
            ["export", "omop", str(lake), "--out", str(tmp_path / "o")],
        ),
        "export meds": (
            sndslab.events,
            "to_meds",
            ["export", "meds", str(lake), "--out", str(tmp_path / "m")],
        ),
    }[command]
    seen: dict[str, Any] = {}
    monkeypatch.setattr(module, name, _spy(seen, name, None))
    result = runner.invoke(app, [*args, "--memory-limit", "768MiB", "--threads", "1"])
    assert result.exit_code == 1 and "stopped by the test" in result.output, result.output
    assert (seen[name].memory_limit, seen[name].threads) == ("768MiB", 1)
    assert _settings(seen[name]) == ("768.0 MiB", 1)


def test_demo_passes_the_options_to_every_step(demo: tuple[Path, str, dict[str, Any]]) -> None:
    _, _, seen = demo
    assert set(seen) == {"ingest", "extract_events", "to_omop"}
    for engine in seen.values():
        assert _settings(engine) == ("1.0 GiB", 1)


# -- progress ----------------------------------------------------------------------------------
def _bar(output: str, name: str) -> tuple[int, int]:
    """(done, total) of the last drawing of progress bar ``name`` in ``output``."""
    found = re.findall(rf"^{re.escape(name)}\s.*?\s(\d+)/(\d+)\s", output, flags=re.M)
    assert found, (name, output)
    done, total = found[-1]
    return int(done), int(total)


def test_progress_covers_every_phase(demo: tuple[Path, str, dict[str, Any]]) -> None:
    """Staging (files), the ingest phases, the events and the OMOP export each draw a bar,
    complete at the end."""
    _, output, _ = demo
    assert _bar(output, "phases") == (5, 5)  # staging, rules, identity, intermediate, report
    files = _bar(output, "files")
    assert files[0] == files[1] > 10
    events = _bar(output, "events")
    assert events[0] == events[1] == len(sndslab.events.load_extractors()) + 3
    omop = _bar(output, "omop")
    assert omop[0] == omop[1] > 10


def test_export_meds_runs_with_options_and_progress(
    demo: tuple[Path, str, dict[str, Any]], tmp_path: Path, monkeypatch: Any
) -> None:
    out, _, _ = demo
    seen: dict[str, Any] = {}
    monkeypatch.setattr(sndslab.events, "to_meds", _spy(seen, "meds", sndslab.events.to_meds))
    args = ["export", "meds", str(out / "lake"), "--out", str(tmp_path / "meds")]
    result = runner.invoke(app, [*args, "--memory-limit", "1GiB", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert _bar(result.output, "meds") == (3, 3)
    assert (tmp_path / "meds" / "metadata" / "codes.parquet").is_file()
    assert _settings(seen["meds"]) == ("1.0 GiB", 1)


def test_phase_callback_of_the_pipeline(
    demo: tuple[Path, str, dict[str, Any]], tmp_path: Path
) -> None:
    """``ingest(phase=...)`` names every phase, in order (an incremental rerun of a copy)."""
    out, _, _ = demo
    lake = tmp_path / "lake"
    shutil.copytree(out / "lake", lake)
    names: list[str] = []
    result = sndslab.ingest.ingest(out / "synth" / "raw", lake, phase=names.append)
    assert names == ["staging", "rules", "identity", "intermediate", "report"]
    assert list(result.report["run"]["phases"]) == names


# -- lake info ---------------------------------------------------------------------------------
def _listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_lake_info(demo: tuple[Path, str, dict[str, Any]]) -> None:
    out, _, _ = demo
    lake = out / "lake"
    before = _listing(lake)
    info = _lake_info(lake)
    assert _listing(lake) == before  # reading a lake writes nothing into it
    layers = {layer["layer"]: layer for layer in info["layers"]}
    assert list(layers) == ["stg", "int", "events", "marts"]  # the demo computes indicators
    assert info["commit"] == max(info["kept_commits"]) and info["stale"] == {}
    with sndslab.open_lake(lake) as lk:
        assert [t["table"] for t in info["tables"]] == lk.tables()
        for name in ("int", "events", "marts"):
            manifest = lk.manifest(name)
            assert layers[name]["generation"] == manifest.generation
            assert layers[name]["created"] == manifest.created
            assert layers[name]["engine"] == "duckdb"
        rows = {t["table"]: t["rows"] for t in info["tables"]}
        assert rows["events.events"] == lk.table("events.events").count() > 0
        assert rows["stg.ER_PRS_F"] == lk.table("stg.ER_PRS_F").count() > 0
        for name, layer in layers.items():
            assert layer["rows"] == sum(n for t, n in rows.items() if t.startswith(name + "."))
        report = lk.report
    run = info["last_run"]
    assert run["date"] == report["run"]["date"] and run["engine"] == "duckdb"
    assert run["raw_dir"] == str((out / "synth" / "raw").resolve())
    assert run["sndslab_version"] == sndslab.__version__ and run["duration_seconds"] > 0
    assert run["totals"] == report["totals"]["tables"]


def test_lake_info_command(demo: tuple[Path, str, dict[str, Any]]) -> None:
    out, _, _ = demo
    info = _lake_info(out / "lake")
    result = runner.invoke(app, ["lake", "info", str(out / "lake")])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "last run" in text and info["last_run"]["date"] in text
    assert f"{sndslab.__version__}" in text and "duckdb" in text
    events = next(layer for layer in info["layers"] if layer["layer"] == "events")
    assert f"{events['rows']:,}" in text
    rows = {t["table"]: t["rows"] for t in info["tables"]}
    assert re.search(rf"events\.events\s*│\s*{rows['events.events']:,}\s*│", text), text


def test_lake_info_without_report_and_not_a_lake(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    sndslab.open_lake(empty, create=True).close()
    info = _lake_info(empty)
    assert info["layers"] == [] and info["last_run"] is None
    result = runner.invoke(app, ["lake", "info", str(empty)])
    assert result.exit_code == 0 and "no ingest report" in result.output, result.output
    missing = tmp_path / "missing"
    result = runner.invoke(app, ["lake", "info", str(missing)])
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output
    assert not missing.exists()
