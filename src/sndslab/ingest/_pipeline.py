"""The whole ingest: stage → rules → identity → intermediate → report.

``int/`` is rebuilt in a hidden temporary directory and swapped in only when every step
succeeded, so a crash leaves the previous ``int/`` intact (staging is itself incremental and
atomic per file). Orphan satellite rows are written under ``quarantine/<TABLE>/orphans.parquet``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sndslab._atomic import atomic_output_dir
from sndslab.engines import Engine, get_engine
from sndslab.ingest._identity import IdentityResult, resolve_persons
from sndslab.ingest._intermediate import build_intermediate, join_loss
from sndslab.ingest._report import write_report
from sndslab.ingest._rules import QualityRule, RuleCounts, apply_rules, load_rules

__all__ = ["IngestResult", "ingest"]


class IngestResult(BaseModel):
    """Everything one ingest run produced (paths are under ``lake``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    lake: Path
    stage: Any
    rules: RuleCounts
    identity: IdentityResult
    intermediate: dict[str, int]
    join_loss: dict[str, float]
    report: dict[str, Any]
    timings: dict[str, float] = {}


def ingest(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str | Engine = "duckdb",
    rules: list[QualityRule] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IngestResult:
    """Stage ``raw_dir`` into ``lake`` then apply ``rules`` (default: the built-in rules),
    resolve identity, build ``int/`` and write the report.

    ``engine`` is a name (``duckdb``, ``spark``) or a configured engine
    (:func:`sndslab.engines.get_engine`, e.g. with a ``memory_limit``: every step then runs
    within it, spilling under ``lake/.tmp``). ``IngestResult.timings`` gives each step's
    seconds.
    """
    from sndslab.ingest import stage  # the staging step (its own module, other owner)

    lake = Path(lake)
    eng = get_engine(engine, lake=lake) if isinstance(engine, str) else engine
    if eng.name not in ("duckdb", "spark"):
        raise NotImplementedError(f"rules/identity/intermediate on {eng.name!r}: not implemented")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    # every step runs on the chosen engine (on "spark": the same SQL, transpiled)
    staged = stage(raw_dir, lake, engine=eng, progress=progress)
    lap("stage")
    rules = load_rules() if rules is None else rules
    con: Any = eng.connect()  # type: ignore[attr-defined]
    if eng.name == "duckdb":
        # past staging, no output depends on row order (the files are sets of rows; every
        # reader sorts or aggregates): let DuckDB stream and spill without keeping it
        con.execute("SET preserve_insertion_order = false")
    try:
        with atomic_output_dir(lake / "int", overwrite=True) as tmp:
            counts = apply_rules(con, lake, rules, out=tmp)
            lap("rules")
            identity = resolve_persons(con, lake, out=tmp)
            lap("identity")
            rows = build_intermediate(con, lake, out=tmp)
            loss = join_loss(con, lake, out=tmp)
            lap("intermediate")
        # paths in the identity summary point to the final directory
        identity = identity.model_copy(
            update={
                "persons_path": str(lake / "int" / "persons.parquet"),
                "keys_path": str(lake / "int" / "person_keys.parquet"),
            }
        )
        report = write_report(lake, staged, counts, identity, rows, loss)
        lap("report")
    finally:
        con.close()
        shutil.rmtree(lake / ".tmp", ignore_errors=True)
    timings["total"] = round(sum(timings.values()), 3)
    return IngestResult(
        lake=lake,
        stage=staged,
        rules=counts,
        identity=identity,
        intermediate=rows,
        join_loss=loss,
        report=report,
        timings=timings,
    )
