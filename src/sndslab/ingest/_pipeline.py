"""The whole ingest: stage → rules → identity → intermediate → report.

Staging is incremental and atomic per file (``stg/``, ``_state/files.json``). The rest is ONE
generation of the ``int`` layer (:func:`sndslab.lake.write_generation`): the kept rows and
flags of every staged table (internal datasets ``clean__<TABLE>``, ``flags__<TABLE>``), the
identity tables and every public int table, committed by the layer's manifest only when every
step succeeded, so a crash or an interrupt leaves the previous generation readable and
unchanged. Orphan satellite rows go to ``quarantine/<TABLE>/orphans/``
(:meth:`sndslab.lake.LakePaths.quarantine_orphans`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from sndslab.engines import Connection, DuckDBConnection, Engine, get_engine, is_uri
from sndslab.ingest._identity import IdentityResult, resolve_persons
from sndslab.ingest._intermediate import build_intermediate, join_loss
from sndslab.ingest._report import write_report
from sndslab.ingest._rules import QualityRule, RuleCounts, apply_rules, load_rules
from sndslab.lake import LakePaths, write_generation

__all__ = ["IngestResult", "IntResult", "build_int", "ingest"]


class IntResult(BaseModel):
    """What one build of the ``int`` layer produced (:func:`build_int`)."""

    rules: RuleCounts
    identity: IdentityResult
    intermediate: dict[str, int]
    join_loss: dict[str, float]
    timings: dict[str, float] = {}
    generation: int = 0


class IngestResult(BaseModel):
    """Everything one ingest run produced."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    lake: Path | str
    stage: Any
    rules: RuleCounts
    identity: IdentityResult
    intermediate: dict[str, int]
    join_loss: dict[str, float]
    report: dict[str, Any]
    timings: dict[str, float] = {}


def _unordered(con: Connection) -> None:
    """Past staging no output depends on row order (datasets are sets of rows; every reader
    sorts or aggregates): let DuckDB stream and spill without keeping it."""
    if con.engine.name == "duckdb":
        cast(DuckDBConnection, con).raw.execute("SET preserve_insertion_order = false")


def _inputs(staged: Any) -> dict[str, Any]:
    """Fingerprints of the staged files the generation was built from."""
    files = {
        acc.file: acc.sha256
        for acc in getattr(staged, "accounts", [])
        if getattr(acc, "table", None) and acc.status == "staged"
    }
    return {"stg_files": dict(sorted(files.items()))}


def build_int(
    con: Connection,
    paths: LakePaths,
    rules: list[QualityRule] | None = None,
    *,
    inputs: dict[str, Any] | None = None,
) -> IntResult:
    """Build and commit one generation of the ``int`` layer from the staged tables of the lake:
    rules, identity, intermediate tables (see the module docstring)."""
    rules = load_rules() if rules is None else rules
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    config = {"rules": [r.model_dump(mode="json") for r in rules]}
    with write_generation(paths, "int", con, config=config, inputs=inputs) as w:
        counts = apply_rules(con, paths, w, rules)
        lap("rules")
        identity = resolve_persons(con, w)
        lap("identity")
        rows = build_intermediate(con, paths, w)
        loss = join_loss(con, w)
        lap("intermediate")
        w.counts.update({"kept": counts.kept, "orphans": counts.orphans, "intermediate": rows})
        w.timings.update(timings)
    return IntResult(
        rules=counts,
        identity=identity,
        intermediate=rows,
        join_loss=loss,
        timings=timings,
        generation=w.generation,
    )


def ingest(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str | Engine = "duckdb",
    rules: list[QualityRule] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IngestResult:
    """Stage ``raw_dir`` into ``lake`` then apply ``rules`` (default: the built-in rules),
    resolve identity, build the ``int`` generation and write the report.

    ``engine`` is a name (``duckdb``, ``spark``) or a configured engine
    (:func:`sndslab.engines.get_engine`, e.g. with a ``memory_limit``: every step then runs
    within it, spilling under ``lake/.tmp``). ``IngestResult.timings`` gives each step's
    seconds.
    """
    from sndslab.ingest import stage  # the staging step (its own module, other owner)

    root = str(lake)
    eng = get_engine(engine, lake=None if is_uri(root) else root)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = eng.connect()
    paths = LakePaths(root, con.storage)
    try:
        paths.ensure_marker()
        # every step runs on the chosen engine (on "spark": the same SQL, transpiled)
        staged = stage(raw_dir, lake, engine=eng, progress=progress)
        timings["stage"] = round(time.perf_counter() - started, 3)
        if paths.is_local:  # the engine's spill directory lives there (staging removes it)
            paths.storage.mkdirs(paths.tmp_dir)
        _unordered(con)
        built = build_int(con, paths, rules, inputs=_inputs(staged))
        timings.update(built.timings)
        clock = time.perf_counter()
        report = write_report(
            paths, staged, built.rules, built.identity, built.intermediate, built.join_loss
        )
        timings["report"] = round(time.perf_counter() - clock, 3)
    finally:
        con.close()
        paths.storage.delete(paths.tmp_dir)
    timings["total"] = round(sum(timings.values()), 3)
    return IngestResult(
        lake=root if is_uri(root) else Path(root),
        stage=staged,
        rules=built.rules,
        identity=built.identity,
        intermediate=built.intermediate,
        join_loss=built.join_loss,
        report=report,
        timings=timings,
    )
