"""Crash consistency: a run killed (SIGKILL), interrupted (SIGINT) or out of disk at any step
leaves the lake exactly as the previous commit published it, or as the new one; the next run
removes the leftovers and ends where a clean run ends. Failpoints
(:mod:`sndslab._faults`) put the signal at the exact step, in a real ``sndslab`` process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import sndslab
from sndslab.lake import open_lake


def _cli(args: list[str], failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m sndslab *args`` of this checkout, with ``failpoint`` armed."""
    src = str(Path(sndslab.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "SNDSLAB_FAILPOINT"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    if failpoint:
        env["SNDSLAB_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "sndslab", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory, fingerprint: Any) -> dict[str, Any]:
    """A raw directory holding a tiny synthetic extract, a lake of that directory when two of
    its files were missing ("old"), and the fingerprints of that lake and of a clean ingest of
    the whole extract ("new")."""
    base = tmp_path_factory.mktemp("faults")
    sndslab.synthesize(base / "synth", patients=150, years=(2019, 2020), seed=5)
    full = base / "synth" / "raw"
    names = sorted(p.name for p in full.iterdir())
    missing = [next(n for n in names if n.startswith(p)) for p in ("ER_PRS_F", "T_MCO")]
    raw = base / "raw"
    shutil.copytree(full, raw)
    for name in missing:
        (raw / name).unlink()
    lake_old = base / "lake_old"
    done = _cli(["ingest", str(raw), "--lake", str(lake_old)])
    assert done.returncode == 0, done.stderr
    for name in missing:
        shutil.copy2(full / name, raw / name)
    clean = base / "lake_clean"
    done = _cli(["ingest", str(full), "--lake", str(clean)])
    assert done.returncode == 0, done.stderr
    return {
        "new": raw,
        "lake_old": lake_old,
        "old_state": fingerprint(lake_old),
        "new_state": fingerprint(clean),
    }


@pytest.fixture(scope="module")
def states(extracts: dict[str, Any]) -> dict[str, Any]:
    return {"old": extracts["old_state"], "new": extracts["new_state"]}


def _copy_old(extracts: dict[str, Any], dest: Path) -> Path:
    shutil.copytree(extracts["lake_old"], dest)
    return dest


KILL_POINTS = [
    "ingest.stage.recorded@2",
    "ingest.staged",
    "ingest.rules",
    "ingest.identity",
    "ingest.intermediate",
    "int.manifest",
    "ingest.report",
    "lake.publish",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_an_ingest_killed_at_any_step_leaves_the_previous_commit(
    point: str, extracts: dict[str, Any], states: dict[str, Any], tmp_path: Path, fingerprint: Any
) -> None:
    lake = _copy_old(extracts, tmp_path / "lake")
    done = _cli(["ingest", str(extracts["new"]), "--lake", str(lake)], f"{point}:KILL")
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-2000:])
    assert fingerprint(lake) == states["old"]


def test_killed_after_the_commit_the_new_state_is_whole_and_the_next_run_cleans_up(
    extracts: dict[str, Any], states: dict[str, Any], tmp_path: Path, fingerprint: Any
) -> None:
    lake = _copy_old(extracts, tmp_path / "lake")
    done = _cli(["ingest", str(extracts["new"]), "--lake", str(lake)], "lake.published:KILL")
    assert done.returncode == -signal.SIGKILL
    assert fingerprint(lake) == states["new"]
    again = _cli(["ingest", str(extracts["new"]), "--lake", str(lake)])
    assert again.returncode == 0, again.stderr
    assert fingerprint(lake) == states["new"]


@pytest.mark.parametrize("point", ["ingest.stage.recorded@2", "ingest.rules", "ingest.report"])
def test_an_interrupted_ingest_says_so_and_the_rerun_ends_as_a_clean_ingest(
    point: str, extracts: dict[str, Any], states: dict[str, Any], tmp_path: Path, fingerprint: Any
) -> None:
    lake = _copy_old(extracts, tmp_path / "lake")
    done = _cli(["ingest", str(extracts["new"]), "--lake", str(lake)], f"{point}:INT")
    assert done.returncode == 130 and done.stderr.strip().endswith("interrupted"), done.stderr
    assert "Traceback" not in done.stderr
    assert fingerprint(lake) == states["old"]
    again = _cli(["ingest", str(extracts["new"]), "--lake", str(lake)])
    assert again.returncode == 0, again.stderr
    assert fingerprint(lake) == states["new"]
    assert not (lake / ".tmp").exists()


def test_a_full_disk_is_one_line_and_the_lake_stays_as_it_was(
    extracts: dict[str, Any], states: dict[str, Any], tmp_path: Path, fingerprint: Any
) -> None:
    lake = _copy_old(extracts, tmp_path / "lake")
    generations = sorted(p.name for p in (lake / "int").glob("g*"))
    done = _cli(["ingest", str(extracts["new"]), "--lake", str(lake)], "int.manifest:ENOSPC")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: No space left on device")
    assert fingerprint(lake) == states["old"]
    # the failed generation is deleted on the way out, not left for the next run
    assert sorted(p.name for p in (lake / "int").glob("g*")) == generations


@pytest.mark.parametrize("point", ["events.manifest", "lake.publish"])
def test_events_killed_before_its_commit_leave_the_previous_events(
    point: str, extracts: dict[str, Any], states: dict[str, Any], tmp_path: Path, fingerprint: Any
) -> None:
    lake = _copy_old(extracts, tmp_path / "lake")
    assert _cli(["events", str(lake)]).returncode == 0
    before = fingerprint(lake)
    assert _cli(["ingest", str(extracts["new"]), "--lake", str(lake)]).returncode == 0
    with open_lake(lake) as opened:
        assert "events" in opened.stale_layers()
    stale = fingerprint(lake)
    assert stale["tables"]["events.events"] == before["tables"]["events.events"]
    done = _cli(["events", str(lake)], f"{point}:KILL")
    assert done.returncode == -signal.SIGKILL
    assert fingerprint(lake) == stale
    assert _cli(["events", str(lake)]).returncode == 0
    with open_lake(lake) as opened:
        assert opened.stale_layers() == {}


@pytest.mark.parametrize("command", ["omop", "meds"])
def test_an_export_killed_mid_write_leaves_no_output_and_the_next_run_cleans_up(
    command: str, tiny_lake: Path, tmp_path: Path, lake_copy: Any
) -> None:
    lake = lake_copy(tiny_lake, tmp_path / "lake")
    out = tmp_path / command
    done = _cli(["export", command, str(lake), "--out", str(out)], f"export.{command}.write:KILL")
    assert done.returncode == -signal.SIGKILL
    assert not out.exists()
    (left,) = [p.name for p in tmp_path.glob(f".{command}.tmp-*")]  # a killed run's sibling
    done = _cli(["export", command, str(lake), "--out", str(out)])
    assert done.returncode == 0, done.stderr
    assert out.is_dir() and not list(tmp_path.glob(f".{command}.*-*")), left
    # killed while replacing an existing output: the previous output stays whole
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    done = _cli(
        ["export", command, str(lake), "--out", str(out), "--overwrite"],
        f"export.{command}.write:KILL",
    )
    assert done.returncode == -signal.SIGKILL
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
