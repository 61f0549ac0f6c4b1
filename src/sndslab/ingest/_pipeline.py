"""The whole ingest: stage → rules → identity → intermediate → report.

``int/`` is rebuilt in a hidden temporary directory and swapped in only when every step
succeeded, so a crash leaves the previous ``int/`` intact (staging is itself incremental and
atomic per file). Orphan satellite rows are written under ``quarantine/<TABLE>/orphans.parquet``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict

from sndslab._atomic import atomic_output_dir
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


def ingest(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str = "duckdb",
    rules: list[QualityRule] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IngestResult:
    """Stage ``raw_dir`` into ``lake`` then apply ``rules`` (default: the built-in rules),
    resolve identity, build ``int/`` and write the report."""
    from sndslab.ingest import stage  # the staging step (its own module, other owner)

    lake = Path(lake)
    if engine not in ("duckdb", "spark"):
        raise NotImplementedError(f"rules/identity/intermediate on {engine!r}: not implemented")
    # Staging raw CSV on Spark is not implemented: stg/ is always written by DuckDB; on
    # "spark" the rules, identity and int/ steps run on Spark (same SQL, transpiled).
    staged = stage(raw_dir, lake, engine="duckdb", progress=progress)
    rules = load_rules() if rules is None else rules
    con: Any = duckdb.connect() if engine == "duckdb" else _spark_connection()
    try:
        with atomic_output_dir(lake / "int", overwrite=True) as tmp:
            counts = apply_rules(con, lake, rules, out=tmp)
            identity = resolve_persons(con, lake, out=tmp)
            rows = build_intermediate(con, lake, out=tmp)
            loss = join_loss(con, lake, out=tmp)
        # paths in the identity summary point to the final directory
        identity = identity.model_copy(
            update={
                "persons_path": str(lake / "int" / "persons.parquet"),
                "keys_path": str(lake / "int" / "person_keys.parquet"),
            }
        )
        report = write_report(lake, staged, counts, identity, rows, loss)
    finally:
        con.close()
    return IngestResult(
        lake=lake,
        stage=staged,
        rules=counts,
        identity=identity,
        intermediate=rows,
        join_loss=loss,
        report=report,
    )


def _spark_connection() -> Any:
    """DuckDB-like SQL facade over a Spark session (``sndslab.ingest._spark_sql``)."""
    from sndslab.engines import get_engine

    return get_engine("spark").connect()  # type: ignore[attr-defined]
