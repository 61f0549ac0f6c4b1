"""The engine seam: what an engine, a connection, a relation and a storage offer.

Every stage runs its SQL (written once, in DuckDB's dialect) through a :class:`Connection`
with explicit operations, and reads and writes datasets through it:

- ``fetchall`` / ``fetchone`` / ``scalar`` run a query and return Python values;
- ``sql`` returns a lazy :class:`Relation` (``to_arrow``, ``to_pandas``, ``to_polars``);
- ``create_table`` (materialised) and ``create_view`` (lazy) name a query for later
  statements, ``drop`` forgets the name, ``register_arrow`` exposes an Arrow table;
- ``describe`` gives a query's ``(column, type)`` pairs without running it;
- ``dataset`` returns the SQL relation of one or several Parquet datasets (directories of
  parts), ``write_dataset`` writes a query's rows as a dataset with the engine's own writer;
- ``storage`` reads, writes, lists and deletes the small files of the lake (manifests, state)
  on the file systems the engine can reach (DuckDB: local disk; Spark: any Hadoop file system,
  ``file://``, ``hdfs://``, ``s3a://``, ``abfss://``).

No statement is recognised by pattern: a connection is given operations, not strings to parse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from sndslab.errors import InvalidArgumentError

ENGINE_NAMES: tuple[str, ...] = ("duckdb", "spark")


@runtime_checkable
class Storage(Protocol):
    """Small-file operations on the lake's file system (paths are strings: local paths or
    URIs with a scheme)."""

    def join(self, base: str, *parts: str) -> str: ...

    def exists(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def list_dir(self, path: str) -> list[str]: ...

    def read_text(self, path: str) -> str: ...

    def write_text(self, path: str, text: str) -> None: ...

    def mkdirs(self, path: str) -> None: ...

    def delete(self, path: str) -> None: ...


@runtime_checkable
class Relation(Protocol):
    """A lazy query result: nothing runs until it is converted or counted."""

    @property
    def columns(self) -> list[str]: ...

    @property
    def native(self) -> Any: ...

    def to_arrow(self) -> pa.Table: ...

    def to_pandas(self) -> Any: ...

    def to_polars(self) -> Any: ...

    def count(self) -> int: ...


class ArrowConversions:
    """What a relation derives from its ``native`` object and its ``to_arrow()``: the column
    names and the pandas and polars conversions (shared by both engines' relations)."""

    @property
    def native(self) -> Any:  # pragma: no cover - defined by each engine
        raise NotImplementedError

    def to_arrow(self) -> pa.Table:  # pragma: no cover - defined by each engine
        raise NotImplementedError

    @property
    def columns(self) -> list[str]:
        return list(self.native.columns)

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        import polars as pl

        return pl.from_arrow(self.to_arrow())


@runtime_checkable
class Connection(Protocol):
    """One session of an engine (see the module docstring)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def storage(self) -> Storage: ...

    def sql(self, query: str) -> Relation: ...

    def fetchall(self, query: str) -> list[tuple[Any, ...]]: ...

    def fetchone(self, query: str) -> tuple[Any, ...] | None: ...

    def scalar(self, query: str) -> Any: ...

    def create_table(self, name: str, query: str) -> None: ...

    def create_view(self, name: str, query: str) -> None: ...

    def drop(self, name: str) -> None: ...

    def describe(self, query: str) -> list[tuple[str, str]]: ...

    def register_arrow(self, name: str, table: pa.Table) -> None: ...

    def dataset(self, paths: str | Sequence[str]) -> str: ...

    def write_dataset(self, query: str, path: str, *, order_by: Sequence[str] = ()) -> int: ...

    def cursor(self) -> Connection: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Engine(Protocol):
    """A configured engine: its ``name``, its settings and a way to open a connection."""

    @property
    def name(self) -> str: ...

    @property
    def memory_limit(self) -> str | None: ...

    @property
    def threads(self) -> int | None: ...

    def connect(self) -> Connection: ...

    def accepts(self, path: str) -> bool: ...


def get_engine(
    name: str | Engine,
    *,
    lake: Path | str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    master: str | None = None,
) -> Engine:
    """Engine called ``name`` (``duckdb`` or ``spark``); an :class:`Engine` is returned as is.

    ``lake``, when given and local, hosts DuckDB's spill directory (``<lake>/.tmp``, made by
    DuckDB at its first spill) so that out-of-core work stays on the lake's disk.
    ``memory_limit`` is a DuckDB-style size (``'2GB'``); ``threads`` caps parallelism;
    ``master`` is Spark's master URL. Raises ``InvalidArgumentError`` for an unknown name and
    ``SndslabError`` when the engine's optional dependency is missing.

    >>> get_engine("duckdb").name
    'duckdb'
    """
    if not isinstance(name, str):
        return name
    from sndslab.engines._duckdb import DuckDBEngine
    from sndslab.engines._spark import SparkEngine

    key = name.strip().lower()
    if master is not None and key != "spark":
        raise InvalidArgumentError("a Spark master URL needs the spark engine (--engine spark)")
    if key == "duckdb":
        temp = None
        if lake is not None and "://" not in str(lake):
            temp = Path(lake) / ".tmp"
        return DuckDBEngine(memory_limit=memory_limit, threads=threads, temp_directory=temp)
    if key == "spark":
        return SparkEngine(memory_limit=memory_limit, threads=threads, master=master)
    raise InvalidArgumentError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


def quote_literal(value: object) -> str:
    """A value as a SQL literal: text quoted (quotes doubled), a date as ``DATE '…'``, an
    integer as is.

    >>> quote_literal("it's"), quote_literal(dt.date(2020, 1, 31)), quote_literal(7)
    ("'it''s'", "DATE '2020-01-31'", '7')
    """
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(int(value))  # type: ignore[call-overload]


def quote_path(path: str | Path) -> str:
    """A path as a SQL string literal.

    >>> quote_path("/a/it's")
    "'/a/it''s'"
    """
    return quote_literal(str(path))


def quote_ident(name: str) -> str:
    """An identifier in double quotes (valid in DuckDB; transpiled to backticks for Spark).

    >>> quote_ident('end')
    '"end"'
    """
    return '"' + name.replace('"', '""') + '"'
