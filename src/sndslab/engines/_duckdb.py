"""DuckDB engine: embedded, out-of-core (spills to ``temp_directory`` under a memory limit).

>>> con = DuckDBEngine(threads=1).connect()
>>> con.create_table("t", "SELECT range AS x FROM range(3)")
>>> con.scalar("SELECT sum(x) FROM t"), con.describe("SELECT * FROM t")
(3, [('x', 'BIGINT')])
>>> con.close()
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from sndslab.engines._base import ArrowConversions, quote_path
from sndslab.engines._storage import LocalStorage, is_local_path
from sndslab.errors import InvalidArgumentError, SndslabError

__all__ = ["DuckDBConnection", "DuckDBEngine", "DuckDBRelation"]

#: Parquet options of every dataset DuckDB writes.
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd"


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

    def accepts(self, path: str) -> bool:
        """DuckDB reads and writes local paths only (its remote file systems are extensions
        that cannot be installed offline)."""
        return is_local_path(path)

    def connect(self) -> DuckDBConnection:
        """A new in-memory DuckDB connection with this engine's settings."""
        config: dict[str, str | bool | int | float | list[str]] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            if self.threads < 1:
                raise InvalidArgumentError(f"threads must be >= 1, got {self.threads}")
            config["threads"] = int(self.threads)
        created: list[Path] = []  # spill directory DuckDB may make: removed on close when empty
        if self.temp_directory is not None:
            # DuckDB makes the directory itself at its first spill (its parent must exist by
            # then): a connection that never spills, e.g. a reader's, writes nothing
            temp = Path(self.temp_directory)
            created = [] if temp.exists() else [temp]
            config["temp_directory"] = str(self.temp_directory)
        try:
            raw = duckdb.connect(":memory:", config=config)
        except duckdb.Error as exc:  # e.g. a malformed memory_limit
            raise InvalidArgumentError(f"cannot configure DuckDB: {exc}") from exc
        # Row order is part of the staging contract (source line numbers): keep insertion order.
        raw.execute("SET preserve_insertion_order = true")
        raw.execute("SET enable_progress_bar = false")
        con = DuckDBConnection(raw, self)
        con._created = created
        return con


#: Seconds :meth:`DuckDBConnection.close` waits for the interrupted cursors of other threads.
CLOSE_WAIT = 30.0


class DuckDBRelation(ArrowConversions):
    """A lazy DuckDB query (:class:`sndslab.engines.Relation`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, query: str) -> None:
        self._con = con
        self.query = query

    @property
    def native(self) -> duckdb.DuckDBPyRelation:
        """The ``duckdb.DuckDBPyRelation`` (DuckDB's relational API)."""
        return self._con.sql(self.query)

    def to_arrow(self) -> pa.Table:
        return self.native.to_arrow_table()

    def count(self) -> int:
        rows = self._con.execute(f"SELECT count(*) FROM ({self.query})").fetchall()
        return int(rows[0][0]) if rows else 0

    def __repr__(self) -> str:
        return f"DuckDBRelation({self.query!r})"


class DuckDBConnection:
    """A DuckDB connection behind the :class:`sndslab.engines.Connection` operations.

    ``raw`` is the underlying ``duckdb.DuckDBPyConnection``, for the engine's own code (the
    DuckDB staging reader uses its CSV reader options and prepared parameters).
    """

    def __init__(self, raw: duckdb.DuckDBPyConnection, engine: DuckDBEngine) -> None:
        self.raw = raw
        self._engine = engine
        self._storage = LocalStorage()
        self._cursors: weakref.WeakSet[DuckDBConnection] = weakref.WeakSet()
        self._created: list[Path] = []

    @property
    def engine(self) -> DuckDBEngine:
        return self._engine

    @property
    def storage(self) -> LocalStorage:
        return self._storage

    def sql(self, query: str) -> DuckDBRelation:
        return DuckDBRelation(self.raw, query)

    def fetchall(self, query: str) -> list[tuple[Any, ...]]:
        return self.raw.execute(query).fetchall()

    def fetchone(self, query: str) -> tuple[Any, ...] | None:
        """The first row of ``query`` (the rest of the result is discarded)."""
        result = self.raw.execute(query)
        row = result.fetchone()
        result.abort()  # DuckDB ≥ 2 keeps an unfinished result pending on the connection
        return row

    def scalar(self, query: str) -> Any:
        row = self.fetchone(query)
        return row[0] if row else None

    def create_table(self, name: str, query: str) -> None:
        self.raw.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")

    def create_view(self, name: str, query: str) -> None:
        self.raw.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {query}")

    def drop(self, name: str) -> None:
        kinds = self.raw.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ? "
            "AND table_schema = 'main' AND table_catalog = 'temp'",
            [name],
        ).fetchall()
        if kinds:
            kind = "VIEW" if kinds[0][0] == "VIEW" else "TABLE"
            self.raw.execute(f"DROP {kind} IF EXISTS {name}")

    def describe(self, query: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.raw.execute(f"DESCRIBE {query}").fetchall()]

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.raw.register(name, table)

    def dataset(self, paths: str | Sequence[str]) -> str:
        """``read_parquet`` of the Parquet parts of one or several dataset directories (a path
        to a ``.parquet`` file is read as is); columns are unified by name, and ``key=value``
        directories in the paths (``stg/T/year=2019/…``) add no hive column."""
        items = [paths] if isinstance(paths, str) else list(paths)
        if not items:
            raise SndslabError("no dataset to read")
        globs = [p if str(p).endswith(".parquet") else str(Path(p) / "*.parquet") for p in items]
        listed = ", ".join(quote_path(g) for g in globs)
        return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"

    def write_dataset(self, query: str, path: str, *, order_by: Sequence[str] = ()) -> int:
        """Write ``query`` as the dataset directory ``path`` (replaced if it exists), rows
        sorted by ``order_by``: one ``part-00000.parquet`` (DuckDB writes its row groups in
        parallel). Returns the rows written."""
        ordered = f"SELECT * FROM ({query}) ORDER BY {', '.join(order_by)}" if order_by else query
        self._storage.delete(path)
        Path(path).mkdir(parents=True, exist_ok=True)
        target = str(Path(path) / "part-00000.parquet")
        rows = self.raw.execute(
            f"COPY ({ordered}) TO {quote_path(target)} ({PARQUET_OPTIONS})"
        ).fetchall()
        return int(rows[0][0]) if rows else 0

    def cursor(self) -> DuckDBConnection:
        """A connection to the same database for another thread (temp objects are shared);
        :meth:`interrupt` and :meth:`close` of this connection reach it too."""
        child = DuckDBConnection(self.raw.cursor(), self._engine)
        self._cursors.add(child)
        return child

    def interrupt(self) -> None:
        """Interrupt the query running on this connection and on every open cursor of it
        (DuckDB's own ``interrupt`` reaches only the connection it is called on)."""
        for child in list(self._cursors):
            with contextlib.suppress(duckdb.Error):  # a cursor closed meanwhile
                child.raw.interrupt()
        self.raw.interrupt()

    def close(self, *, wait: float = CLOSE_WAIT) -> None:
        """Close the connection. DuckDB refuses to close one whose cursor runs a query in
        another thread ("connection is busy"): the open cursors are interrupted first, and the
        close is retried until they have stopped, for at most ``wait`` seconds. The spill
        directory DuckDB made for this connection is then removed if empty."""
        deadline = time.monotonic() + wait
        while True:
            for child in list(self._cursors):
                with contextlib.suppress(duckdb.Error):
                    child.raw.interrupt()
            try:
                self.raw.close()
                break
            except duckdb.ResourceInUseException:  # pragma: no cover - timing dependent
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        for directory in self._created:  # deepest first; a directory still in use stays
            with contextlib.suppress(OSError):
                directory.rmdir()
