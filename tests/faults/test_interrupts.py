"""Ctrl-C at every phase of every command: ``interrupted`` on stderr, exit 130, no traceback,
no hidden temporary directory left behind (issue 11, item 6).

Each case runs ``python -m sndslab`` with a failpoint (:mod:`sndslab._faults`) that sends the
process SIGINT at a named phase boundary; ``~SECONDS`` delays the signal so that it lands inside
the engine query that follows (what a real Ctrl-C usually hits: DuckDB turns it into its own
"Query interrupted" error, which must still end as ``interrupted``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

Cli = Any  # the fixtures' callables (tests/faults/conftest.py)

INGEST_POINTS = [
    "ingest.stage.file@2",  # in a staging worker thread, the others running queries
    "ingest.stage.record@2",  # in the main thread, between two staged files
    "ingest.rules~0.2",  # inside the rules' queries
    "ingest.intermediate~0.3",
    "ingest.report",
]


@pytest.mark.parametrize("point", ["synth.chunk@2"])
def test_synth(point: str, tmp_path: Path, sndslab_cli: Cli, interrupted: Cli) -> None:
    out = tmp_path / "synth"
    result = sndslab_cli(
        ["synth", "--out", out, "--patients", "200", "--years", "2019", "--chunk-size", "100"],
        failpoint=point,
    )
    interrupted(result, out)
    assert not out.exists()  # nothing appears unless the run completes


@pytest.mark.parametrize("point", INGEST_POINTS)
def test_ingest(
    point: str, tiny_extract: Path, tmp_path: Path, sndslab_cli: Cli, interrupted: Cli
) -> None:
    lake = tmp_path / "lake"
    result = sndslab_cli(["ingest", tiny_extract / "raw", "--lake", lake], failpoint=point)
    interrupted(result, lake)


@pytest.mark.parametrize("nth", [1, 3, 5])
def test_interrupt_while_the_staging_pool_runs(
    nth: int, tiny_extract: Path, tmp_path: Path, sndslab_cli: Cli, interrupted: Cli
) -> None:
    """SIGINT lands a few milliseconds after a worker starts its file, while the other
    workers' cursors run queries: the cursors are interrupted, the connection closes (no
    "connection is busy"), nothing half-staged is left."""
    lake = tmp_path / "lake"
    result = sndslab_cli(
        ["ingest", tiny_extract / "raw", "--lake", lake],
        failpoint=f"ingest.stage.file@{nth}~0.05",
    )
    assert "busy" not in result.output, result.output
    interrupted(result, lake)


def test_a_second_interrupt_while_the_pool_stops(
    tiny_extract: Path, tmp_path: Path, sndslab_cli: Cli, interrupted: Cli
) -> None:
    """A second Ctrl-C lands while the staging pool waits for its workers: the connection is
    closed while their cursors run queries, which DuckDB refuses ("connection is busy") unless
    the cursors are interrupted first (the reported ResourceInUseException)."""
    for i in range(3):
        lake = tmp_path / f"lake{i}"
        result = sndslab_cli(
            ["ingest", tiny_extract / "raw", "--lake", lake],
            failpoint="ingest.stage.file@3~0.05,ingest.stage.stopping~0.01",
        )
        assert "busy" not in result.output, result.output
        interrupted(result, lake)


@pytest.mark.parametrize("point", ["events.extract@2~0.05", "events.write"])
def test_events(
    point: str, tiny_lake: Path, tmp_path: Path, sndslab_cli: Cli, interrupted: Cli, lake_copy: Cli
) -> None:
    lake = lake_copy(tiny_lake, tmp_path / "lake")
    before = sorted(p.name for p in (lake / "events").iterdir())
    result = sndslab_cli(["events", lake], failpoint=point)
    interrupted(result, lake)
    assert sorted(p.name for p in (lake / "events").iterdir()) == before


@pytest.mark.parametrize("fmt", ["meds", "omop"])
def test_exports(
    fmt: str, tiny_lake: Path, tmp_path: Path, sndslab_cli: Cli, interrupted: Cli
) -> None:
    out = tmp_path / fmt
    result = sndslab_cli(["export", fmt, tiny_lake, "--out", out], failpoint=f"export.{fmt}.write")
    interrupted(result, out, tiny_lake)
    assert not out.exists()


def test_demo(tmp_path: Path, sndslab_cli: Cli, interrupted: Cli) -> None:
    out = tmp_path / "demo"
    result = sndslab_cli(["demo", "--out", out, "--patients", "30"], failpoint="synth.chunk")
    interrupted(result, out)


def test_lake_info(tiny_lake: Path, sndslab_cli: Cli, interrupted: Cli) -> None:
    interrupted(sndslab_cli(["lake", "info", tiny_lake], failpoint="lake.info"), tiny_lake)


def test_the_helper_runs_without_a_failpoint(tiny_lake: Path, sndslab_cli: Cli) -> None:
    code, stdout, stderr = sndslab_cli(["lake", "info", tiny_lake])
    assert code == 0, stderr
    assert "int" in stdout and "events" in stdout


def test_while_the_command_line_loads(sndslab_cli: Cli, interrupted: Cli, tmp_path: Path) -> None:
    """Ctrl-C while the interpreter still imports the command line (its own handler is not
    installed yet): answered by ``sndslab.__main__``, no ``KeyboardInterrupt`` traceback."""
    interrupted(sndslab_cli(["--version"], failpoint="cli.load~0.01"), tmp_path)
