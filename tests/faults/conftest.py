"""Fault-injection fixtures: run ``python -m sndslab ...`` in a child process with a failpoint
armed (:mod:`sndslab._faults`), and tiny synthetic extracts and lakes built once per session.

The reusable helper is :func:`run_sndslab`, given to tests as the fixture ``sndslab_cli``
(``--import-mode=importlib``: tests take helpers from fixtures, not imports)::

    def test_x(sndslab_cli, tiny_lake):
        code, stdout, stderr = sndslab_cli(["events", tiny_lake], failpoint="events.write")
        assert code == 130 and stderr.splitlines()[-1] == "interrupted"

``interrupted`` (:func:`assert_interrupted`) checks the whole contract of an interrupted run,
``lake_copy`` (:func:`copy_lake`) gives a private copy of a read-only lake.

``failpoint`` takes the ``SNDSLAB_FAILPOINT`` syntax (``name[@N][:SIGNAL][~SECONDS]``);
``signal`` is a shorthand for ``:SIGNAL`` when ``failpoint`` names the point only. The child
runs this checkout's ``sndslab`` (``PYTHONPATH``), with ``env`` added to this process's
environment, in ``cwd``, and is killed after ``timeout`` seconds (a test failure, not a hang).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sndslab
from sndslab._faults import ENV
from sndslab.lake import open_lake

SRC = str(Path(sndslab.__file__).resolve().parents[1])
#: Seconds a child may take before it is killed (a loaded two-core machine, a cold start).
TIMEOUT = 120.0
#: Hidden temporary names sndslab writes while a step runs (must not survive an interrupt).
HIDDEN_TEMP = (".staging-", ".tmp")


@dataclass(frozen=True)
class Run:
    """The outcome of one child ``sndslab`` process; unpacks as ``(code, stdout, stderr)``."""

    code: int
    stdout: str
    stderr: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.code, self.stdout, self.stderr))

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with this checkout first on ``PYTHONPATH``, without any
    failpoint inherited, plus ``env``."""
    out = {k: v for k, v in os.environ.items() if k not in (ENV, "SNDSLAB_DEBUG")}
    out["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    out["COLUMNS"] = "120"  # rich tables: stable width in a pipe
    out.update(env or {})
    return out


def run_sndslab(
    args: Sequence[str | Path],
    *,
    failpoint: str | None = None,
    signal: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = TIMEOUT,
) -> Run:
    """Run ``python -m sndslab *args`` (see the module docstring) and return its :class:`Run`."""
    extra = dict(env or {})
    if failpoint is not None:
        spec = failpoint
        if signal is not None:
            if ":" in failpoint:
                raise ValueError("give the signal in failpoint or in signal, not both")
            name, tilde, delay = failpoint.partition("~")
            spec = f"{name}:{signal.upper()}{tilde}{delay}"
        extra[ENV] = spec
    proc = subprocess.run(
        [sys.executable, "-m", "sndslab", *map(str, args)],
        env=child_env(extra),
        cwd=None if cwd is None else str(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def hidden_leftovers(*roots: Path) -> list[str]:
    """Hidden temporary files or directories (``.staging-*``, ``.tmp*``, ``.<name>.tmp-*``)
    under ``roots`` and next to them (an output is built as a hidden sibling)."""
    found: set[str] = set()
    for root in roots:
        places = [root.parent] + ([root] if root.is_dir() else [])
        for place in places:
            walk = place.rglob(".*") if place == root else place.glob(".*")
            for p in walk:
                name = p.name
                if name.startswith(HIDDEN_TEMP) or ".tmp-" in name or ".old-" in name:
                    found.add(str(p))
    return sorted(found)


def assert_interrupted(result: Run, *roots: Path) -> None:
    """Exit 130, ``interrupted`` as the last line of stderr, no traceback, no hidden leftovers."""
    assert result.code == 130, result.output
    assert result.stderr_lines and result.stderr_lines[-1] == "interrupted", result.stderr
    assert "Traceback" not in result.output, result.output
    assert not hidden_leftovers(*roots), hidden_leftovers(*roots)


@pytest.fixture(scope="session")
def sndslab_cli() -> Callable[..., Run]:
    """:func:`run_sndslab`, as a fixture."""
    return run_sndslab


@pytest.fixture(scope="session")
def interrupted() -> Callable[..., None]:
    """:func:`assert_interrupted`, as a fixture."""
    return assert_interrupted


@pytest.fixture(scope="session")
def lake_copy() -> Callable[[Path, Path], Path]:
    """:func:`copy_lake`, as a fixture."""
    return copy_lake


@pytest.fixture(scope="session")
def tiny_extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic extract (200 persons, 2019): ``raw/``, ``truth/``, ``manifest.json``.
    Read-only."""
    from sndslab.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("faults") / "extract"
    generate(SynthConfig(patients=200, first_year=2019, last_year=2019, seed=11), out)
    return out


@pytest.fixture(scope="session")
def tiny_lake(tiny_extract: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lake of :func:`tiny_extract` with its ``int`` and ``events`` layers. Read-only:
    copy it (:func:`copy_lake`) before running a command that writes into it."""
    from sndslab.events import extract_events
    from sndslab.ingest import ingest

    lake = tmp_path_factory.mktemp("faults-lake") / "lake"
    ingest(tiny_extract / "raw", lake, truth=False)
    extract_events(lake)
    return lake


def copy_lake(lake: Path, dest: Path) -> Path:
    """A private copy of ``lake`` at ``dest``."""
    shutil.copytree(lake, dest)
    return dest


def lake_fingerprint(lake: Path) -> dict[str, Any]:
    """What readers see of a lake: every table of the current commit (internal ones included)
    with its rows and an order-insensitive content hash, the staged files (name → content
    hash), the published layers and the report's table accounts."""
    with open_lake(lake) as opened:
        commit = opened.commit
        assert commit is not None
        names = [f"stg.{t}" for t in commit.stg_tables()]
        for layer in ("int", "events"):
            if layer in commit.layers:
                names += [f"{layer}.{t}" for t in opened.manifest(layer).tables]
        tables: dict[str, Any] = {}
        for name in sorted(names):
            got = opened.sql(
                f"SELECT count(*) AS n, bit_xor(hash(CAST(t AS VARCHAR))) AS h FROM {name} t"
            ).to_arrow()
            tables[name] = tuple(got.to_pylist()[0].values())
        return {
            "tables": tables,
            "files": {n: f.sha256 for n, f in commit.stg.items()},
            "layers": sorted(commit.layers),
            "report": opened.report["tables"] if commit.report else None,
        }


@pytest.fixture(scope="session")
def fingerprint() -> Any:
    """:func:`lake_fingerprint`."""
    return lake_fingerprint
