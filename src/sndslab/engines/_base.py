"""The engine protocol and the by-name factory."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from sndslab.errors import InvalidArgumentError

ENGINE_NAMES: tuple[str, ...] = ("duckdb", "spark")


@runtime_checkable
class Engine(Protocol):
    """What every engine offers: a ``name`` and the settings stages need to open sessions."""

    @property
    def name(self) -> str: ...

    @property
    def memory_limit(self) -> str | None: ...

    @property
    def threads(self) -> int | None: ...


def get_engine(
    name: str,
    *,
    lake: Path | str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> Engine:
    """Engine called ``name`` (``duckdb`` or ``spark``).

    ``lake``, when given, hosts the engine's spill directory (``<lake>/.tmp/<engine>``) so that
    out-of-core work stays on the lake's disk. ``memory_limit`` is a DuckDB-style size
    (``'2GB'``); ``threads`` caps parallelism. Raises ``InvalidArgumentError`` for an unknown
    name and ``SndslabError`` when the engine's optional dependency is missing.
    """
    from sndslab.engines._duckdb import DuckDBEngine
    from sndslab.engines._spark import SparkEngine

    key = name.strip().lower()
    if key == "duckdb":
        temp = Path(lake) / ".tmp" / "duckdb" if lake is not None else None
        return DuckDBEngine(memory_limit=memory_limit, threads=threads, temp_directory=temp)
    if key == "spark":
        return SparkEngine(memory_limit=memory_limit, threads=threads)
    raise InvalidArgumentError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")
