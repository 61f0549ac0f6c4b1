"""DuckDB engine: embedded, out-of-core (spills to ``temp_directory`` under a memory limit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from sndslab.errors import InvalidArgumentError


@dataclass(frozen=True)
class DuckDBEngine:
    """Factory of configured DuckDB connections.

    ``memory_limit`` (e.g. ``'2GB'``) bounds DuckDB's buffer manager; beyond it operators spill
    to ``temp_directory``. ``threads`` defaults to DuckDB's choice (all cores).
    """

    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: Path | None = None
    name: str = "duckdb"

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with this engine's settings."""
        config: dict[str, str | bool | int | float | list[str]] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            if self.threads < 1:
                raise InvalidArgumentError(f"threads must be >= 1, got {self.threads}")
            config["threads"] = int(self.threads)
        if self.temp_directory is not None:
            Path(self.temp_directory).mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(self.temp_directory)
        try:
            con = duckdb.connect(":memory:", config=config)
        except duckdb.Error as exc:  # e.g. a malformed memory_limit
            raise InvalidArgumentError(f"cannot configure DuckDB: {exc}") from exc
        # Row order is part of the contract (source line numbers): keep insertion order.
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET enable_progress_bar = false")
        return con
