"""Command line: arguments are validated up front and errors are one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app, main, parse_years
from sndslab.errors import InvalidArgumentError
from sndslab.lake import open_lake

runner = CliRunner()


def _fails_cleanly(args: list[str], code: int | None = None) -> str:
    result = runner.invoke(app, args)
    output = result.output  # stdout and stderr, interleaved
    assert result.exit_code != 0, output
    if code is not None:
        assert result.exit_code == code, output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and output.strip() == errors[0], output
    return errors[0]


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"sndslab {sndslab.__version__}"


def test_python_m_sndslab_version_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sndslab", "--version"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"sndslab {sndslab.__version__}"


def test_main_returns_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--patients", "0", "--out", "x"]) == 2
    assert capsys.readouterr().err.startswith("error: --patients")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--patients", "-5"], "--patients"),
        (["--patients", "abc"], "--patients"),
        (["--years", "2021-2019"], "after"),
        (["--years", "20x"], "YYYY"),
        (["--years", "2019-"], "YYYY"),
        (["--years", "1999"], "outside"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_invalid_arguments(tmp_path: Path, args: list[str], needle: str) -> None:
    line = _fails_cleanly(["synth", "--out", str(tmp_path / "o"), *args], code=2)
    assert needle in line


def test_missing_required_option() -> None:
    assert "--out" in _fails_cleanly(["synth"], code=2)


def test_unknown_command() -> None:
    _fails_cleanly(["frobnicate"], code=2)


def test_output_under_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert "not a directory" in _fails_cleanly(["synth", "--out", str(afile / "out")])


def test_output_is_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    _fails_cleanly(["synth", "--out", str(afile)])


def test_existing_non_empty_output_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert "--overwrite" in _fails_cleanly(["synth", "--patients", "10", "--out", str(out)])
    assert (out / "keep.txt").read_text() == "x"
    _fails_cleanly(["demo", "--out", str(out)])


def test_parse_years() -> None:
    assert parse_years("2019") == (2019, 2019)
    assert parse_years("2019-2021") == (2019, 2021)
    with pytest.raises(InvalidArgumentError):
        parse_years("2021-2019")


def test_keyboard_interrupt_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sndslab.cli as cli

    def boom(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_make_config", boom)
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "o")])
    assert result.exit_code == 130
    assert "interrupted" in result.output and "Traceback" not in result.output


def test_synth_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "synth",
            "--patients",
            "200",
            "--years",
            "2020",
            "--seed",
            "1",
            "--out",
            str(out),
            "--chunk-size",
            "100",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "raw").is_dir() and any((out / "raw").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    again = runner.invoke(
        app,
        [
            "synth",
            "--patients",
            "200",
            "--years",
            "2020",
            "--out",
            str(out),
            "--overwrite",
            "--chunk-size",
            "100",
        ],
    )
    assert again.exit_code == 0, again.output


def test_registry_commands() -> None:
    listed = runner.invoke(app, ["registry", "list"])
    assert listed.exit_code == 0, listed.output
    assert "ER_PRS_F" in listed.output and "T_MCOaaB" in listed.output
    result = runner.invoke(app, ["registry", "show", "ER_PRS_F"])
    assert result.exit_code == 0, result.output
    assert "PRS_NAT_REF" in result.output
    _fails_cleanly(["registry", "show", "NOT_A_TABLE"])


def test_ingest_errors_are_one_line(tmp_path: Path) -> None:
    _fails_cleanly(["ingest", str(tmp_path / "missing"), "--lake", str(tmp_path / "lake")])
    (tmp_path / "raw").mkdir()
    _fails_cleanly(
        ["ingest", str(tmp_path / "raw"), "--lake", str(tmp_path / "lake"), "--engine", "oracle"]
    )


def test_demo_runs_synth_ingest_events_omop(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--patients", "300"])
    assert result.exit_code == 0, result.output
    assert (out / "synth" / "raw" / "IR_BEN_R.csv").is_file()
    assert (out / "synth" / "truth" / "manifest.json").is_file()
    assert Path(str(open_lake(out / "lake").report_path())).is_file()
    assert "int.persons" in sndslab.open_lake(out / "lake").tables("int")
    assert "events.patients" in sndslab.open_lake(out / "lake").tables("events")
    assert (out / "omop" / "person").is_dir()
    assert "events" in result.output and "OMOP CDM 5.4" in result.output
    # indicators (the headline subset) and their release through the gate
    assert (out / "released" / "audit.json").is_file()
    assert (out / "released" / "diabetes__territory_sex.parquet").is_file()
    assert "attack" in result.output and "passed" in result.output
    # it ends by saying how to open the dashboard, which serves its released folder
    assert f"sndslab dashboard {out / 'released'}" in result.output
    _dashboard_draws_every_view(out / "released")
    # a second run refuses to overwrite, then replaces with --overwrite
    _fails_cleanly(["demo", "--out", str(out), "--patients", "300"])
    again = runner.invoke(app, ["demo", "--out", str(out), "--patients", "300", "--overwrite"])
    assert again.exit_code == 0, again.output


def _dashboard_draws_every_view(released: Path) -> None:
    from sndslab.dashboard import load_released, parse_query, to_query
    from sndslab.dashboard._app import render

    folder = load_released(released)
    assert folder.warnings == [] and "diabetes" in folder.indicators
    for name in folder.indicators:
        for view in ("map", "series", "pyramid", "funnel", "ranking", "pathways"):
            sel, messages = parse_query(folder, f"indicator={name}&view={view}")
            assert messages == []
            assert len(render(folder, to_query(sel), "")) == 9
    # the demo releases its pathways; its cohorts are tiny: the view says what is secret
    assert set(folder.pathways) == {"pathways__transitions", "pathways__sequences"}
    for pathway in sorted(set(folder.pathways["pathways__transitions"]["pathway"])):
        sel, _ = parse_query(folder, f"view=pathways&pathway={pathway}")
        fig, _, text, *_ = render(folder, to_query(sel), "")
        assert all(v > 0 for v in fig.data[0].link.value)  # a secret branch is never a 0
        said = str(text).lower() + " ".join(a.text for a in fig.layout.annotations)
        assert len(fig.data[0].link.value) > 0 or "secret statistique" in said


def test_events_needs_an_ingested_lake(tmp_path: Path) -> None:
    _fails_cleanly(["events", str(tmp_path)])


def test_an_interrupt_turned_into_an_engine_error_still_exits_130(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DuckDB reports Ctrl-C during a query as its own error ("Query interrupted")."""
    import os
    import signal
    import time

    import sndslab.cli as cli

    def engine_interrupted(*_a: object, **_k: object) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise RuntimeError("Query interrupted") from None

    monkeypatch.setattr(cli, "_make_config", engine_interrupted)
    before = signal.getsignal(signal.SIGINT)  # pyspark installs its own in a Spark session
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "o")])
    assert result.exit_code == 130, result.output
    assert result.output.strip() == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_engine_errors_are_one_line_keeping_their_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import duckdb

    import sndslab.cli as cli

    def engine_fails(*_a: object, **_k: object) -> None:
        raise duckdb.IOException("No files found that match the pattern clean/IR_BEN_R/*.parquet")

    monkeypatch.setattr(cli, "_make_config", engine_fails)
    line = _fails_cleanly(["synth", "--out", str(tmp_path / "o")], code=1)
    assert line == "error: DuckDB: No files found that match the pattern clean/IR_BEN_R/*.parquet"
