"""Streaming writer of raw CNAM-like export files (``;``-separated CSV, optionally gzipped).

One file per (table, year), named by the registry (``T_MCO20B.csv``, ``ER_PRS_F_2021.csv.gz``),
columns in registry order under a header line of SNDS column names. Repeated ``write`` calls
for the same file append to it. Formatting is done column-wise with ``pyarrow.compute`` (no row
loops): dates with the table's ``date_format`` (SAS month names in upper case, ``05JAN2020``),
amounts rounded to 2 decimals with a ``.`` decimal mark, integers plain, nulls empty, and double
quotes only around the rare values that contain the delimiter, a quote or a line break.

>>> import tempfile, datetime as dt
>>> import pyarrow as pa
>>> from sndslab.synth._writer import _FakeSpec
>>> spec = _FakeSpec("T", ["A", "D", "M"], ["string", "date", "number"], "%d/%m/%Y")
>>> out = Path(tempfile.mkdtemp())
>>> w = RawTableWriter(out, registry_lookup=lambda _name: spec)
>>> w.write("T", None, pa.table({"D": pa.array([dt.date(2020, 1, 5)]), "M": [12.3456]}))
>>> stats = w.close()
>>> print((out / "T.csv").read_text(), end="")
A;D;M
;05/01/2020;12.35
>>> stats["T.csv"].rows
1
"""

from __future__ import annotations

import queue
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sndslab.errors import SndslabError

__all__ = ["FileStats", "RawTableWriter"]

#: Rows formatted at once (bounds memory and keeps each formatted block below 2 GiB).
BATCH_ROWS = 131_072

#: Decimals kept for ``number`` columns (amounts in euros, coefficients, rates).
DECIMALS = 2


class _ColumnSpec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


class _TableSpec(Protocol):
    @property
    def column_names(self) -> list[str]: ...

    @property
    def columns(self) -> Sequence[Any]: ...

    @property
    def date_format(self) -> str: ...

    def file_name(self, year: int | None) -> str: ...


@dataclass(slots=True)
class FileStats:
    """What was written to one raw file."""

    table: str
    year: int | None
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class _FakeColumn:
    name: str
    type: str


class _FakeSpec:
    """Minimal stand-in for ``sndslab.registry.TableSpec`` (doctests and unit tests)."""

    def __init__(
        self,
        name: str,
        columns: list[str],
        types: list[str],
        date_format: str = "%d/%m/%Y",
        *,
        yearly: bool = False,
    ) -> None:
        self.name = name
        self.columns = [_FakeColumn(c, t) for c, t in zip(columns, types, strict=True)]
        self.column_names = list(columns)
        self.date_format = date_format
        self.yearly = yearly

    def file_name(self, year: int | None) -> str:
        return f"{self.name}_{year}" if self.yearly and year is not None else self.name


def _default_lookup(name: str) -> _TableSpec:
    from sndslab.registry import get_table

    spec: _TableSpec = get_table(name)
    return spec


@dataclass(slots=True)
class _Layout:
    """A table's output layout, computed once per table."""

    spec: Any
    names: list[str]
    types: dict[str, str]
    date_format: str
    upper: bool


class _GzipSink:
    """gzip file written through ``zlib`` (Arrow's gzip stream only offers the slow level 9)."""

    def __init__(self, path: Path, level: int) -> None:
        self._fh = path.open("wb")
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip header and trailer

    def write(self, data: Any) -> None:
        self._fh.write(self._z.compress(data))

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.write(self._z.flush())
            finally:
                self._fh.close()


class _OpenFile:
    __slots__ = ("path", "rows", "sink", "table", "year")

    def __init__(self, path: Path, table: str, year: int | None, level: int | None) -> None:
        self.path = path
        self.table = table
        self.year = year
        self.rows = 0
        self.sink: Any = path.open("wb") if level is None else _GzipSink(path, level)


class RawTableWriter:
    """Append typed Arrow tables to raw CNAM-like CSV files, one per (table, year).

    ``registry_lookup`` maps a table name to its spec (``sndslab.registry.get_table`` by
    default, imported lazily). gzip uses ``compresslevel`` 1 by default: about 3 times faster
    than level 6 for files about 15 % larger. Call ``close`` (or use the writer as a context
    manager) to flush the files; it returns ``file name -> FileStats``.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        compress: bool = False,
        delimiter: str = ";",
        registry_lookup: Callable[[str], Any] | None = None,
        compresslevel: int = 1,
        background: bool = False,
    ) -> None:
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise SndslabError(f"invalid CSV delimiter {delimiter!r}")
        self.out_dir = Path(out_dir)
        self.compress = compress
        self.compresslevel = compresslevel
        self.delimiter = delimiter
        self._lookup: Callable[[str], Any] = registry_lookup or _default_lookup
        self._layouts: dict[str, _Layout] = {}
        self._files: dict[str, _OpenFile] = {}
        self._stats: dict[str, FileStats] | None = None
        self._needs_quote = "[" + re.escape(delimiter + '"') + r"\r\n]"
        self._special = [ord(c) for c in delimiter + '"\r\n']
        # background=True: formatting and writing run in one worker thread (Arrow compute and
        # file I/O release the GIL), overlapping with the caller's work; FIFO keeps the order.
        self._queue: queue.Queue[tuple[_OpenFile, _Layout, pa.Table] | None] | None = None
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        if background:
            self._queue = queue.Queue(maxsize=4)
            self._worker = threading.Thread(target=self._drain, name="csv-writer", daemon=True)
            self._worker.start()

    # -- public API ---------------------------------------------------------------------------
    def write(self, table: str, year: int | None, data: pa.Table) -> None:
        """Append ``data`` (any subset of the table's columns, typed) to its file."""
        if self._stats is not None:
            raise RuntimeError("RawTableWriter.write called after close()")
        layout = self._layout(table)
        unknown = [c for c in data.column_names if c not in layout.types]
        if unknown:
            raise SndslabError(
                f"table {table}: column {unknown[0]} is not in the registry spec"
                + (f" (nor {', '.join(unknown[1:])})" if len(unknown) > 1 else "")
            )
        handle = self._open(table, year, layout)
        if self._queue is not None:
            self._raise_worker_error()
            self._queue.put((handle, layout, data))
            return
        self._append(handle, layout, data)

    def _append(self, handle: _OpenFile, layout: _Layout, data: pa.Table) -> None:
        for start in range(0, max(data.num_rows, 1), BATCH_ROWS):
            block = data.slice(start, BATCH_ROWS)
            if block.num_rows:
                handle.sink.write(self._format(block, layout))
        handle.rows += data.num_rows

    def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after a failure, drain without writing
                try:
                    self._append(*item)
                except BaseException as exc:  # reported to the caller by write()/close()
                    self._error = exc

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> dict[str, FileStats]:
        """Flush and close every file; returns ``file name -> FileStats`` (idempotent)."""
        if self._queue is not None and self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()
        if self._stats is None:
            stats: dict[str, FileStats] = {}
            errors: list[BaseException] = [self._error] if self._error is not None else []
            for name, handle in self._files.items():
                try:
                    handle.sink.close()
                except Exception as exc:  # close every file, then report the first failure
                    errors.append(exc)
                stats[name] = FileStats(
                    handle.table, handle.year, handle.rows, handle.path.stat().st_size
                )
            self._stats = stats
            if errors:
                raise errors[0]
        return dict(self._stats)

    def __enter__(self) -> RawTableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _layout(self, table: str) -> _Layout:
        layout = self._layouts.get(table)
        if layout is None:
            spec = self._lookup(table)
            names = list(spec.column_names)
            fmt = spec.date_format
            types = {c.name: c.type for c in spec.columns}
            layout = _Layout(spec, names, types, fmt, "%b" in fmt)
            self._layouts[table] = layout
        return layout

    def _open(self, table: str, year: int | None, layout: _Layout) -> _OpenFile:
        stem = layout.spec.file_name(year)
        name = f"{stem}.csv.gz" if self.compress else f"{stem}.csv"
        handle = self._files.get(name)
        if handle is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            level = self.compresslevel if self.compress else None
            handle = _OpenFile(self.out_dir / name, table, year, level)
            handle.sink.write((self.delimiter.join(layout.names) + "\n").encode("utf-8"))
            self._files[name] = handle
        elif handle.table != table:
            raise SndslabError(f"tables {handle.table} and {table} both map to file {name}")
        return handle

    def _format(self, block: pa.Table, layout: _Layout) -> pa.Buffer:
        """Format ``block`` as CSV lines (with trailing newlines) in one contiguous buffer."""
        n = block.num_rows
        present = set(block.column_names)
        sep = self.delimiter
        # Elements joined with the delimiter: the present columns, and one scalar per run of
        # k absent columns standing for their k - 1 inner delimiters (a null scalar is ""), so
        # the cost does not grow with the many columns a table leaves empty.
        elements: list[Any] = []
        run = 0
        for name in layout.names:
            if name in present:
                if run:
                    elements.append(pa.scalar(sep * (run - 1) if run > 1 else None, pa.string()))
                    run = 0
                elements.append(self._text(block.column(name).combine_chunks(), layout))
            else:
                run += 1
        if run:
            elements.append(pa.scalar(sep * (run - 1) + "\n", pa.string()))
        else:  # the line break rides on the last column
            elements[-1] = pc.binary_join_element_wise(
                elements[-1], "\n", "", null_handling="replace"
            )
        if len(elements) == 1:  # no column given at all: broadcast the constant line
            elements.insert(0, pa.nulls(n, pa.string()))
            elements[1] = pa.scalar(sep * (len(layout.names) - 1) + "\n", pa.string())
            lines = pc.binary_join_element_wise(*elements, "", null_handling="replace")
        else:
            lines = pc.binary_join_element_wise(*elements, sep, null_handling="replace")
        if isinstance(lines, pa.ChunkedArray):  # pragma: no cover - inputs are combined
            lines = lines.combine_chunks()
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        begin, end = int(offsets[lines.offset]), int(offsets[lines.offset + n])
        data_buffer: pa.Buffer = lines.buffers()[2]
        return data_buffer.slice(begin, end - begin)

    def _text(self, arr: pa.Array, layout: _Layout) -> pa.Array:
        """One column as strings (nulls kept as nulls)."""
        typ = arr.type
        if pa.types.is_null(typ):
            return pa.nulls(len(arr), pa.string())
        if pa.types.is_temporal(typ) and not pa.types.is_duration(typ):
            # strftime costs ~1 µs a value: format each distinct value once (care dates take a
            # few thousand values), then gather
            enc = pc.dictionary_encode(arr)
            values = enc.dictionary
            if not pa.types.is_timestamp(typ) or typ.unit != "s":
                values = values.cast(pa.timestamp("s", getattr(typ, "tz", None)), safe=False)
            text = pc.strftime(values, format=layout.date_format)
            if layout.upper:
                text = pc.utf8_upper(text)
            return pc.take(text, enc.indices)
        if pa.types.is_floating(typ) or pa.types.is_decimal(typ):
            if pa.types.is_decimal(typ):
                arr = arr.cast(pa.float64())
            # round, then +0.0 turns -0.0 into 0.0 so no "-0" is written
            arr = pc.add(pc.round(arr, DECIMALS), 0.0)
            return arr.cast(pa.string())
        if pa.types.is_boolean(typ):
            return arr.cast(pa.int8()).cast(pa.string())
        if pa.types.is_integer(typ):
            return arr.cast(pa.string())
        if pa.types.is_dictionary(typ):
            arr = arr.dictionary_decode()
            typ = arr.type
        if not pa.types.is_string(typ):
            arr = arr.cast(pa.string())
        return self._quote(arr)

    def _quote(self, arr: pa.Array) -> pa.Array:
        """Quote (RFC 4180) the values containing the delimiter, a quote or a line break."""
        data = arr.buffers()[2]
        if data is None or not len(data):
            return arr
        raw = np.frombuffer(data, dtype=np.uint8)
        if not any(bool((raw == c).any()) for c in self._special):
            return arr
        needs = pc.match_substring_regex(arr, self._needs_quote)
        if not pc.any(needs).as_py():
            return arr
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
        return pc.if_else(needs, quoted, arr)
