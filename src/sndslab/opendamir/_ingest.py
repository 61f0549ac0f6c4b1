"""Read real Open DAMIR month files into the lake's ``opendamir`` layer.

One generation of the layer per run (:func:`sndslab.lake.write_generation`, published by a lake
commit: atomic, and a re-run on the same files publishes nothing), holding
``opendamir.prestations`` (one row per kept line), ``opendamir.lexicon`` and the internal
``quarantine`` dataset (one row per quarantined line, with its reason and text).

Each file is streamed once by DuckDB's CSV reader into a Parquet scratch file (``COPY``, no
window, no pandas: memory stays bounded whatever the file's size), then split into kept and
quarantined rows. The quirks of the real files are handled and counted per file:

- decimal commas in amounts (``23,21``): read as 23.21, lines counted (``decimal_comma``);
- unknown codes 9 / 99 (``AGE_BEN_SNDS`` 99, ``BEN_SEX_COD`` 0 or 9, ``BEN_RES_REG`` 99,
  specialties 99): kept as published, counted (``unknown_<column>``);
- negative regularisation lines: kept, flagged ``regularisation``, counted;
- codes outside the lexicon: quarantined on the checked axes (age, sex, region;
  ``unknown_code:<COLUMN>``), kept and counted elsewhere (``not_in_lexicon``);
- a broken line (wrong number of fields, an integer that is not one) is quarantined
  (``malformed_line``, ``type_error:<COLUMN>``) with its line number and text; a flow month
  other than the file's (``flow_month_mismatch``) too;
- a file that looks like Open DAMIR (name and header) but lacks columns is refused whole: its
  lines are counted as refused, with the missing columns named.

Row accounting: the data lines of every file are counted independently of the CSV reader
(:func:`sndslab.ingest._discover.inspect_file`), and ``rows_in = kept + quarantined (+ refused)``
is checked.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import duckdb

from sndslab.engines import DuckDBConnection, get_engine, quote_ident, quote_path
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.ingest._discover import RawFile, head_columns, inspect_file, is_opendamir
from sndslab.lake import LakePaths, has_manifest, read_manifest, write_generation
from sndslab.opendamir._schema import (
    AMOUNT_COLUMNS,
    CHECKED_AXES,
    LABELLED_COLUMNS,
    MEASURE_COLUMNS,
    PUBLIC_COLUMNS,
    coded_columns,
    codes,
    column_type,
    file_month,
    lexicon_table,
)

__all__ = [
    "OpenDamirFile",
    "OpenDamirIngestResult",
    "find_opendamir_files",
    "ingest_opendamir",
]

LAYER = "opendamir"
#: Codes meaning "unknown" in the published files, counted per column.
UNKNOWN_CODES: dict[str, tuple[int, ...]] = {
    "AGE_BEN_SNDS": (99,),
    "BEN_SEX_COD": (0, 9),
    "BEN_RES_REG": (99,),
    "PSE_SPE_SNDS": (99,),
    "PSP_SPE_SNDS": (99,),
}
_CONFIG_VERSION = 1


@dataclass
class OpenDamirFile:
    """Where the lines of one Open DAMIR file went (``quarantined``: reason → lines)."""

    file: str
    month: int
    sha256: str
    bytes: int
    rows_in: int = 0
    kept: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    refused_rows: int = 0
    status: str = "ingested"  # "ingested" | "refused"
    message: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    quirks: dict[str, int] = field(default_factory=dict)
    not_in_lexicon: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: seconds of the steps: ``read`` (CSV → checked Parquet), ``split`` (kept rows with
    #: labels, quarantine), ``count`` (quirks)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def check(self) -> None:
        """Every data line is kept, quarantined or refused."""
        if self.rows_in != self.kept + self.quarantined_total + self.refused_rows:
            raise SndslabError(
                f"{self.file}: row accounting does not add up: {self.rows_in} data lines, "
                f"{self.kept} kept, {self.quarantined_total} quarantined, {self.refused_rows} "
                "refused (a line the CSV reader skipped without reporting it: please report)"
            )


@dataclass
class OpenDamirIngestResult:
    """What one Open DAMIR ingest produced: per-file accounts and totals."""

    lake: str
    files: list[OpenDamirFile]
    published: bool
    generation: int | None
    seconds: float = 0.0

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def kept(self) -> int:
        return sum(f.kept for f in self.files)

    @property
    def quarantined(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.quarantined.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    @property
    def quirks(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.quirks.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lake": self.lake,
            "published": self.published,
            "generation": self.generation,
            "rows_in": self.rows_in,
            "kept": self.kept,
            "quarantined": self.quarantined,
            "refused_rows": sum(f.refused_rows for f in self.files),
            "quirks": self.quirks,
            "files": [asdict(f) for f in self.files],
            "seconds": self.seconds,
        }


def find_opendamir_files(raw_dir: Path | str) -> list[Path]:
    """The Open DAMIR month files under ``raw_dir`` (recursively, hidden files excluded),
    recognised by name AND header (:func:`sndslab.ingest._discover.is_opendamir`)."""
    raw = Path(raw_dir)
    if raw.is_file():
        paths = [raw]
    elif raw.is_dir():
        paths = sorted(
            p
            for p in raw.rglob("*")
            if p.is_file() and not any(s.startswith(".") for s in p.relative_to(raw).parts)
        )
    else:
        raise InvalidArgumentError(f"{raw} does not exist")
    return [p for p in paths if is_opendamir(p.name, head_columns(p))]


def _parquet(path: str) -> str:
    """SQL relation of one Parquet file."""
    return f"read_parquet([{quote_path(path)}])"


def _lits(values: Sequence[object]) -> str:
    return ", ".join(str(int(str(v))) for v in values)


def _in_lexicon(column: str, expr: str) -> str:
    """SQL: ``expr`` (an integer) is a code of the column's code list."""
    ints = [c for c, _ in codes(column) if c.lstrip("-").isdigit()]
    return f"{expr} IN ({_lits(ints)})"


def _read_sql(rf: RawFile, rejects: tuple[str, str]) -> str:
    """The file's rows: integer columns cast by the reader (its rejects give line numbers),
    amounts as text (a decimal comma is accepted), unknown extra columns as text."""
    types = []
    for i, name in enumerate(rf.columns):
        kind = column_type(name) if name in PUBLIC_COLUMNS else "VARCHAR"
        types.append(f"'c{i}': '{'VARCHAR' if kind.startswith('DECIMAL') else kind}'")
    opts = [
        f"delim = {quote_path(rf.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        "header = true",
        "auto_detect = false",
        "columns = {" + ", ".join(types) + "}",
        f"encoding = {quote_path(rf.encoding)}",
        f"compression = {quote_path(rf.compression or 'none')}",
        "store_rejects = true",
        f"rejects_table = {quote_path(rejects[0])}",
        f"rejects_scan = {quote_path(rejects[1])}",
    ]
    return f"read_csv({quote_path(str(rf.path))}, {', '.join(opts)})"


def _checked_sql(rf: RawFile, source: str, month: int) -> str:
    """Typed public columns, ``_q`` (first failed check, NULL when kept), ``_comma``."""
    pos = {name: i for i, name in enumerate(rf.columns)}
    cols, checks, commas = [], [], []
    for name in PUBLIC_COLUMNS:
        raw = f"c{pos[name]}"
        if name in AMOUNT_COLUMNS:
            text = f"nullif(trim({raw}), '')"
            value = f"TRY_CAST(replace({text}, ',', '.') AS DECIMAL(18,2))"
            checks.append((f"{text} IS NOT NULL AND {value} IS NULL", f"type_error:{name}"))
            commas.append(f"contains(coalesce({raw}, ''), ',')")
            cols.append(f"{value} AS {name}")
        else:
            cols.append(f"{raw} AS {name}")
    checks.append((f"c{pos['FLX_ANN_MOI']} IS DISTINCT FROM {month}", "flow_month_mismatch"))
    for axis in CHECKED_AXES:
        raw = f"c{pos[axis]}"
        checks.append((f"{raw} IS NULL", f"missing_code:{axis}"))
        checks.append((f"NOT ({_in_lexicon(axis, raw)})", f"unknown_code:{axis}"))
    case = " ".join(f"WHEN {cond} THEN '{reason}'" for cond, reason in checks)
    raw_cols = ", ".join(f"c{i}" for i in range(len(rf.columns)))
    return (
        f"SELECT * EXCLUDE ({raw_cols}), CASE WHEN _q IS NOT NULL THEN concat_ws(';', "
        f"{raw_cols}) END AS _text FROM (SELECT {raw_cols}, {', '.join(cols)}, "
        f"CASE {case} END AS _q, ({' OR '.join(commas)}) AS _comma FROM {source})"
    )


def _kept_sql(checked: str, source_file: str) -> str:
    """Kept rows with their labels and the regularisation flag, in the contract's order."""
    joins, labels = [], []
    for k, col in enumerate(LABELLED_COLUMNS):
        joins.append(
            f"LEFT JOIN (SELECT TRY_CAST(code AS BIGINT) AS code, label FROM _od_lexicon "
            f"WHERE \"column\" = '{col}') l{k} ON t.{col} = l{k}.code"
        )
        labels.append(f"l{k}.label AS {col}_LIB")
    negative = " OR ".join(f"coalesce(t.{m} < 0, false)" for m in MEASURE_COLUMNS)
    public = ", ".join(f"t.{c}" for c in PUBLIC_COLUMNS)
    return (
        f"SELECT {public}, {', '.join(labels)}, ({negative}) AS regularisation, "
        f"{quote_path(source_file)} AS _source_file "
        f"FROM (SELECT * FROM {_parquet(checked)} WHERE _q IS NULL) t " + " ".join(joins)
    )


def _quirks_sql(checked: str) -> tuple[list[str], str]:
    """Counts of the quirks on the kept rows (one query): names and the SQL."""
    names = ["decimal_comma", "regularisation"]
    negative = " OR ".join(f"coalesce({m} < 0, false)" for m in MEASURE_COLUMNS)
    exprs = ["count(*) FILTER (WHERE _comma)", f"count(*) FILTER (WHERE {negative})"]
    for col, unknown in UNKNOWN_CODES.items():
        names.append(f"unknown_{col}")
        exprs.append(f"count(*) FILTER (WHERE {col} IN ({_lits(unknown)}))")
    sql = f"SELECT {', '.join(exprs)} FROM {_parquet(checked)} WHERE _q IS NULL"
    return names, sql


def _lexicon_columns() -> list[str]:
    """Coded integer columns whose codes outside the lexicon are counted (not quarantined)."""
    return [
        c
        for c in coded_columns()
        if c not in CHECKED_AXES and any(code.lstrip("-").isdigit() for code, _ in codes(c))
    ]


def _not_in_lexicon(con: DuckDBConnection, checked: str) -> dict[str, int]:
    """Kept lines per column whose code is not in the column's code list: the distinct codes
    of every column in one pass (``GROUPING SETS``), compared with the lexicon here."""
    cols = _lexicon_columns()
    sets = ", ".join(f"({c})" for c in cols)
    which = " ".join(f"WHEN grouping({c}) = 0 THEN '{c}'" for c in cols)
    value = " ".join(f"WHEN grouping({c}) = 0 THEN {c}" for c in cols)
    rows = con.fetchall(
        f"SELECT CASE {which} END, CASE {value} END, count(*) FROM {_parquet(checked)} "
        f"WHERE _q IS NULL GROUP BY GROUPING SETS ({sets})"
    )
    known = {c: {int(code) for code, _ in codes(c) if code.lstrip("-").isdigit()} for c in cols}
    out: dict[str, int] = {}
    for col, code, n in rows:
        if code is not None and int(code) not in known[str(col)]:
            out[str(col)] = out.get(str(col), 0) + int(n)
    return {c: out[c] for c in cols if c in out}


def _rejects(
    con: DuckDBConnection, table: str, header: Sequence[str]
) -> list[tuple[int, str, str]]:
    """The reader's rejected lines: (data line, reason naming the public column, text)."""
    rows = con.fetchall(
        f"SELECT line, any_value(csv_line), "
        f"min_by(CASE WHEN error_type = 'CAST' THEN 'type_error:' || coalesce(column_name, '?') "
        f"ELSE 'malformed_line' END, CAST(error_type = 'CAST' AS INTEGER)) "
        f"FROM {table} GROUP BY line ORDER BY line"
    )
    out = []
    for line, text, reason in rows:
        body = (text or "").lstrip("\r\n").rstrip("\r\n")
        if reason.startswith("type_error:c") and reason[12:].isdigit():
            reason = f"type_error:{header[int(reason[12:])] or '?'}"
        out.append((int(line) - 1, str(reason), body))
    return out


def _refusal(rf: RawFile) -> str | None:
    if rf.reason is not None and rf.reason.startswith("cannot read"):
        return rf.reason
    missing = [c for c in PUBLIC_COLUMNS if c not in rf.columns]
    if missing:
        shown = ", ".join(missing[:8]) + (" …" if len(missing) > 8 else "")
        return (
            f"looks like an Open DAMIR file (name and header) but lacks {len(missing)} of the "
            f"{len(PUBLIC_COLUMNS)} public columns: {shown}"
        )
    return None


def _ingest_file(
    con: DuckDBConnection,
    rf: RawFile,
    scratch: Path,
    kept_dir: Path,
    quarantine_dir: Path,
) -> OpenDamirFile:
    month = file_month(Path(rf.name).name)
    acc = OpenDamirFile(rf.name, month, rf.sha256, rf.size, rows_in=rf.data_lines)
    started = time.perf_counter()
    refusal = _refusal(rf)
    if refusal is not None:
        acc.status, acc.message, acc.refused_rows = "refused", refusal, rf.data_lines
        acc.seconds = round(time.perf_counter() - started, 3)
        return acc
    acc.ignored_columns = [c or "(empty)" for c in rf.columns if c not in PUBLIC_COLUMNS]
    tag = uuid.uuid4().hex[:10]
    rejects = (f"_od_rej_{tag}", f"_od_scan_{tag}")
    checked = str(scratch / f"checked-{tag}.parquet")
    try:
        con.raw.execute(
            f"COPY ({_checked_sql(rf, _read_sql(rf, rejects), month)}) "
            f"TO {quote_path(checked)} (FORMAT parquet, COMPRESSION zstd)"
        )
    except duckdb.OutOfMemoryException as exc:
        raise SndslabError(
            f"{rf.name}: out of memory while reading ({str(exc).splitlines()[0]}); "
            "lower the engine's threads or raise its memory_limit"
        ) from exc
    except duckdb.Error as exc:  # unreadable content: refuse the file, one clear line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        acc.status, acc.refused_rows = "refused", rf.data_lines
        acc.message = f"cannot read as CSV: {first}"
        acc.seconds = round(time.perf_counter() - started, 3)
        return acc
    acc.timings["read"] = round(time.perf_counter() - started, 3)
    rejected = _rejects(con, rejects[0], rf.columns)
    con.drop(rejects[0])
    con.drop(rejects[1])
    part = f"part-{rf.sha256[:16]}.parquet"
    acc.kept = int(
        con.raw.execute(
            f"COPY ({_kept_sql(checked, rf.name)}) TO {quote_path(str(kept_dir / part))} "
            "(FORMAT parquet, COMPRESSION zstd)"
        ).fetchall()[0][0]
    )
    con.register_arrow(
        f"_od_rejected_{tag}",
        _rejected_arrow(rf.name, rejected),
    )
    con.raw.execute(
        f"COPY (SELECT {quote_path(rf.name)} AS _source_file, CAST(NULL AS BIGINT) AS "
        f"_source_line, _q AS reason, _text AS line FROM {_parquet(checked)} "
        f"WHERE _q IS NOT NULL UNION ALL SELECT * FROM _od_rejected_{tag}) "
        f"TO {quote_path(str(quarantine_dir / part))} (FORMAT parquet, COMPRESSION zstd)"
    )
    con.drop(f"_od_rejected_{tag}")
    for reason, n in con.fetchall(
        f"SELECT reason, count(*) FROM {_parquet(str(quarantine_dir / part))} "
        "GROUP BY reason ORDER BY reason"
    ):
        acc.quarantined[str(reason)] = int(n)
    acc.timings["split"] = round(time.perf_counter() - started - acc.timings["read"], 3)
    names, sql = _quirks_sql(checked)
    values = con.fetchone(sql) or ()
    for name, value in zip(names, values, strict=True):
        acc.quirks[name] = int(value or 0)
    acc.not_in_lexicon = _not_in_lexicon(con, checked)
    Path(checked).unlink(missing_ok=True)
    acc.seconds = round(time.perf_counter() - started, 3)
    acc.timings["count"] = round(acc.seconds - acc.timings["read"] - acc.timings["split"], 3)
    acc.check()
    return acc


def _rejected_arrow(name: str, rejected: list[tuple[int, str, str]]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "_source_file": pa.array([name] * len(rejected), pa.string()),
            "_source_line": pa.array([r[0] for r in rejected], pa.int64()),
            "reason": pa.array([r[1] for r in rejected], pa.string()),
            "line": pa.array([r[2] for r in rejected], pa.string()),
        }
    )


def ingest_opendamir(
    source: Path | str | Sequence[Path | str],
    lake: Path | str,
    *,
    memory_limit: str | None = None,
    threads: int | None = None,
    keep: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> OpenDamirIngestResult:
    """Ingest the Open DAMIR files of ``source`` (a directory, a file or a list of files) into
    the ``opendamir`` layer of ``lake`` (see the module docstring). The layer holds the files of
    the last run; a run on the same files (same names and contents) publishes nothing.

    DuckDB only (``memory_limit``, ``threads``: its limits; spills under ``lake/.tmp``).
    Raises :class:`sndslab.errors.InvalidArgumentError` when ``source`` holds no Open DAMIR
    file.
    """
    started = time.perf_counter()
    if isinstance(source, (str, Path)):
        base = Path(source)
        paths = find_opendamir_files(base)
        raw_dir = base if base.is_dir() else base.parent
    else:
        paths = sorted({Path(p) for p in source})
        raw_dir = paths[0].parent if paths else Path()
        bad = [p.name for p in paths if not is_opendamir(p.name, head_columns(p))]
        if bad:
            raise InvalidArgumentError(
                f"not Open DAMIR files (name A{{YYYYMM}}.csv[.gz] and header): {', '.join(bad)}"
            )
    if not paths:
        raise InvalidArgumentError(
            f"no Open DAMIR file in {source} (expected A{{YYYYMM}}.csv[.gz] with the public "
            "header FLX_ANN_MOI;ORG_CLE_REG;AGE_BEN_SNDS;...)"
        )
    root = str(lake)
    eng = get_engine("duckdb", lake=root, memory_limit=memory_limit, threads=threads)
    con = cast(DuckDBConnection, eng.connect())
    lake_paths = LakePaths(root, con.storage)
    try:
        lake_paths.ensure_marker()
        con.raw.execute("SET preserve_insertion_order = false")
        files = [inspect_file(p, raw_dir if p.is_relative_to(raw_dir) else None) for p in paths]
        inputs = {"files": {rf.name: rf.sha256 for rf in files}}
        config = {"version": _CONFIG_VERSION, "columns": list(PUBLIC_COLUMNS)}
        if has_manifest(lake_paths, LAYER):
            previous = read_manifest(lake_paths, LAYER)
            if previous.inputs == inputs and previous.counts.get("config") == config:
                carried = [OpenDamirFile(**a) for a in previous.counts.get("files", [])]
                return OpenDamirIngestResult(
                    root, carried, False, previous.generation,
                    round(time.perf_counter() - started, 3),
                )  # fmt: skip
        con.register_arrow("_od_lexicon", lexicon_table())
        accounts: list[OpenDamirFile] = []
        with write_generation(
            lake_paths, LAYER, con, config=config, inputs=inputs, keep=keep,
            command="ingest opendamir",
        ) as w:  # fmt: skip
            kept_dir = Path(w.path("prestations"))
            quarantine_dir = Path(w.path("quarantine"))
            scratch = Path(lake_paths.join(".tmp", f"opendamir-{uuid.uuid4().hex[:8]}"))
            for d in (kept_dir, quarantine_dir, scratch):
                d.mkdir(parents=True, exist_ok=True)
            try:
                for k, rf in enumerate(files):
                    accounts.append(_ingest_file(con, rf, scratch, kept_dir, quarantine_dir))
                    if progress is not None:
                        progress(k + 1, len(files), rf.name)
            finally:
                con.storage.delete(str(scratch))
            if not any(kept_dir.glob("*.parquet")):
                _empty_prestations(con, str(kept_dir))
            if not any(quarantine_dir.glob("*.parquet")):
                con.raw.execute(
                    "COPY (SELECT NULL::VARCHAR AS _source_file, NULL::BIGINT AS _source_line, "
                    "NULL::VARCHAR AS reason, NULL::VARCHAR AS line LIMIT 0) TO "
                    f"{quote_path(str(quarantine_dir / 'part-empty.parquet'))} (FORMAT parquet)"
                )
            w.record("prestations", sum(a.kept for a in accounts))
            w.record("quarantine", sum(a.quarantined_total for a in accounts), internal=True)
            w.write("lexicon", "SELECT * FROM _od_lexicon")
            w.counts.update({"config": config, "files": [asdict(a) for a in accounts]})
        return OpenDamirIngestResult(
            root, accounts, True, w.generation, round(time.perf_counter() - started, 3)
        )
    finally:
        con.close()
        con.storage.delete(lake_paths.tmp_dir)


def _empty_prestations(con: DuckDBConnection, kept_dir: str) -> None:
    """An empty ``prestations`` part with the table's columns (every file refused)."""
    cols = [f"CAST(NULL AS {column_type(c)}) AS {quote_ident(c)}" for c in PUBLIC_COLUMNS]
    cols += [f"CAST(NULL AS VARCHAR) AS {c}_LIB" for c in LABELLED_COLUMNS]
    cols += ["CAST(NULL AS BOOLEAN) AS regularisation", "CAST(NULL AS VARCHAR) AS _source_file"]
    con.raw.execute(
        f"COPY (SELECT {', '.join(cols)} LIMIT 0) TO "
        f"{quote_path(str(Path(kept_dir) / 'part-empty.parquet'))} (FORMAT parquet)"
    )
