"""Stage raw files on Spark (:data:`sndslab.ingest._stage.STAGERS` ``spark``): the same ``stg/``
and ``quarantine/`` parts (rows, values, types, ``_source_line``), and the same file accounts, as
the DuckDB reader of :mod:`sndslab.ingest._stage_duckdb`.

One typing implementation: the file is turned into a Spark relation with the columns that
DuckDB's ``read_csv``/``read_parquet`` give (``_ord``, ``c0 … cN``, all text), registered as a
temp view (``con.register``), and the very SQL of :mod:`sndslab.ingest._read` (``checked_sql``,
``staged_sql``, ``quarantined_sql``) runs on it through the
:class:`~sndslab.engines.SparkConnection` (DuckDB SQL transpiled with sqlglot plus tested shims:
``try_strptime``, DuckDB's ``TRY_CAST`` text grammar, 1-based list indexing).

Only the reading is Spark's own:

* **Exact line numbers.** The file is read as text, one record per physical line (``lineSep``
  ``\\n``; a trailing ``\\r`` is dropped). A line's number is its index in the file, computed
  without a global sort: ``monotonically_increasing_id`` numbers the lines of each input split in
  order, and for a file read as several splits one small aggregation per split
  (``input_file_block_start``) gives each split's line count, the cumulative counts shifting
  every split into place. Index 0 is the header, so the
  index *is* the 1-based data line of ``_source_line``; blank lines are skipped (they are gaps in
  the numbering, as on DuckDB).
* **CSV parsing.** Each line is parsed with ``from_csv`` (the file's delimiter, quote and escape
  ``"``); a line is ``malformed_line`` with DuckDB's wording when it does not tokenise
  (``UNQUOTED VALUE``: a quote opened and not closed, or text after a closing quote), has fewer
  fields than the header (``MISSING COLUMNS … Found: n``) or has non-empty fields beyond them
  (``TOO MANY COLUMNS … Found: N+1``; empty trailing fields are ignored, like DuckDB). Spaces
  around a quoted value are dropped, inside an unquoted one kept, like DuckDB.
* **Encodings.** Lines are read as bytes; a file detected as UTF-8 whose later lines are not
  valid UTF-8 is read as latin-1 (``decode(…, 'ISO-8859-1')``) with DuckDB's note. Gzip files
  are decompressed by Spark's text reader.
* **Parquet.** ``_ord`` is ``_metadata.row_index + 1`` (DuckDB: ``file_row_number + 1``) and
  every column is cast to text, like DuckDB's ``CAST(… AS VARCHAR)``.

Quoted line breaks: lines that open or close a quoted value across lines (an odd number of
structural quotes) are joined into records by windows over the file (only for such files:
small referentials in practice, e.g. the CCAM); as on DuckDB, ``rows_in`` is then the record
count and ``_source_line`` the row ordinal, with DuckDB's note. Known difference: a quote never
closed makes one record of the rest of the file, quarantined whole (DuckDB quarantines each of
its lines), with a note.

Writing: the parsed lines are written once as a scratch dataset (``<scratch>/lines-<tag>``, on
the lake's file system); the staged part and, when some rows are not staged, the quarantine
part are then queried from it (with :data:`STAGING_CONF` set on the session) and written by
Spark's writer (``con.write_dataset``) DIRECTLY at their final dataset directories
(``LakePaths.stg_part`` / ``quarantine_part``): no driver-side rename, glob or Parquet read, so
the lake may be on any Hadoop file system. The staged rows keep file order: a file read as one
split is written as one part in order, otherwise the write is range-partitioned and sorted on
``_source_line``. Row counts come from ``write_dataset`` and from queries through the
connection. A crash leaves directories the state does not list (invisible to readers, deleted
by the next run).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sndslab.engines import Connection, SparkConnection, hadoop_path, quote_path
from sndslab.ingest._accounting import FileAccount
from sndslab.ingest._discover import RawFile
from sndslab.ingest._read import TypingPlan, checked_sql, quarantined_sql, staged_sql
from sndslab.ingest._stage import place_parts, plan_file, refused_account
from sndslab.lake import LakePaths

__all__ = ["read_file"]

UNQUOTED = "UNQUOTED VALUE: Value with unterminated quote found."
BAD_UTF8 = "INVALID ENCODING: not valid UTF-8"  # temporary: such a file is read as latin-1
LATIN1_NOTE = "invalid UTF-8 found after the first MB: read as latin-1"
#: Session settings while files are staged (restored after): no whole-stage codegen (the typing
#: projection of a wide table exceeds Java's 64 KB method limit, so every file would pay a
#: failed compilation before Spark falls back), and one ``from_csv`` per line rather than one per
#: column (Spark's CSV expression optimisation prunes the parser per extracted field).
STAGING_CONF: dict[str, str] = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.optimizer.enableCsvExpressionOptimization": "false",
}
_conf_lock = threading.Lock()
_conf_users: list[dict[str, str | None]] = []  # one entry per file being staged


def read_file(
    con: Connection, rf: RawFile, paths: LakePaths, scratch: str, acc: FileAccount
) -> FileAccount:
    """Stage ``rf`` with Spark's readers (see :data:`sndslab.ingest._stage.STAGERS`); an
    unreadable file is refused with one clear line."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    scon = cast(SparkConnection, con)
    try:
        with _staging_conf(scon.spark):
            _stage_into(scon, rf, paths, scratch, acc)
    except (PySparkException, Py4JJavaError) as exc:  # unreadable content: refuse the file
        return refused_account(rf, exc)
    return acc


@contextmanager
def _staging_conf(spark: Any) -> Iterator[None]:
    """:data:`STAGING_CONF` set while at least one file is being staged (files are staged from
    several threads on one session), then the previous values restored."""
    with _conf_lock:
        if not _conf_users:
            saved = {k: spark.conf.get(k, None) for k in STAGING_CONF}
            for key, value in STAGING_CONF.items():
                spark.conf.set(key, value)
        else:
            saved = _conf_users[0]
        _conf_users.append(saved)
    try:
        yield
    finally:
        with _conf_lock:
            _conf_users.pop()
            if not _conf_users:
                for key, value in saved.items():
                    if value is None:
                        spark.conf.unset(key)
                    else:
                        spark.conf.set(key, value)


def _stage_into(
    con: SparkConnection, rf: RawFile, paths: LakePaths, scratch: str, acc: FileAccount
) -> None:
    plan = plan_file(rf, acc)  # the checks before reading: the same as DuckDB's
    if plan is None:
        return
    assert rf.table is not None
    part = paths.stg_part(rf.table.name, rf.year, rf.name, rf.sha256)
    qpart = paths.quarantine_part(rf.table.name, rf.name, rf.sha256)
    encoding = rf.encoding
    rows, staged, quarantined, wrote_q = _write_parts(
        con, rf, plan, encoding, (part, qpart), scratch
    )
    if quarantined.pop("_bad_utf8", 0) and rf.format == "csv" and encoding != "latin-1":
        acc.notes.append(LATIN1_NOTE)  # like DuckDB: the whole file is read again as latin-1
        encoding = "latin-1"
        con.storage.delete(qpart)
        rows, staged, quarantined, wrote_q = _write_parts(
            con, rf, plan, encoding, (part, qpart), scratch
        )
    acc.encoding = encoding if rf.format == "csv" else None
    rows_in = rf.data_lines
    if rows != rows_in:  # quoted line breaks: DuckDB's note and accounting
        acc.notes.append(
            f"{rows_in} data lines counted but the CSV reader found {rows} rows: quoted "
            "values contain line breaks; rows_in is the reader's count and _source_line the "
            "row ordinal"
        )
        rows_in = rows

    unquoted = quarantined.pop("_unquoted", 0)
    if unquoted:
        acc.notes.append(
            f"{unquoted} record(s) with a quote never closed: the record runs to the end of the "
            "file and is quarantined whole (DuckDB quarantines each of its lines)"
        )
    place_parts(acc, rf, rows_in, staged, quarantined, with_quarantine=wrote_q)


def _read_lines(
    con: SparkConnection,
    rf: RawFile,
    encoding: str,
    scratch: str,
    tag: str,
    written: list[str],
    views: list[str],
) -> tuple[Any, int]:
    """(DataFrame of the parsed lines, or records when quoted values hold line breaks; the
    rows read). The lines are parsed once and written as a scratch dataset: the typing and
    quarantine queries then scan plain columns. The scratch datasets and the views created
    are added to ``written`` and ``views``."""
    lines_view, records_view = f"_stg_lines_{tag}", f"_stg_records_{tag}"
    parsed = con.storage.join(scratch, f"lines-{tag}")
    written.append(parsed)
    con.register(lines_view, _csv_lines(con.spark, rf, encoding))
    try:
        con.write_dataset(f"SELECT * FROM {lines_view}", parsed)
    finally:
        con.drop(lines_view)
    rel = con.dataset(parsed)
    views.append(rel)
    rows = rf.data_lines
    # a line with an odd number of quotes opens or closes a quoted line break (the footers'
    # statistics of _odd let Spark skip every row group without one)
    if con.fetchone(f"SELECT 1 FROM {rel} WHERE _odd LIMIT 1") is not None:
        records = con.storage.join(scratch, f"records-{tag}")
        written.append(records)
        joined = _parse(_join_records(con.spark.table(rel)), rf.delimiter, len(rf.columns))
        con.register(records_view, joined)
        try:
            rows = con.write_dataset(f"SELECT * FROM {records_view}", records)
        finally:
            con.drop(records_view)
        rel = con.dataset(records)
        views.append(rel)
    return con.spark.table(rel), rows


def _write_parts(
    con: SparkConnection,
    rf: RawFile,
    plan: TypingPlan,
    encoding: str,
    dest: tuple[str, str],
    scratch: str,
) -> tuple[int, int, Counter[str], bool]:
    """Write the staged part (and the quarantine part when some rows are not staged) at their
    final directories ``dest``: (rows read, rows staged, rows quarantined per reason, whether
    a quarantine part was written). Rows read are the data lines, or the records when quoted
    values hold line breaks."""
    part, qpart = dest
    tag = uuid.uuid4().hex[:8]
    src_view, bad_view = f"_stg_src_{tag}", f"_stg_bad_{tag}"
    rows = rf.data_lines
    written: list[str] = []
    views = [src_view, bad_view]
    try:
        if rf.format == "parquet":
            source = _parquet_source(con.spark, rf)
            con.register(src_view, source)
        else:
            lines, rows = _read_lines(con, rf, encoding, scratch, tag, written, views)
            cols = [f"c{i}" for i in range(len(rf.columns))]
            source = lines.where("_detail IS NULL").select("_ord", *cols)
            con.register(src_view, source)
            con.register(
                bad_view, lines.where("_detail IS NOT NULL").select("_ord", "_text", "_detail")
            )
        # one input split read in order gives the rows in file order; else sort them back
        # (a file of several splits, or a scratch dataset of several parts, is read as
        # partitions packed by size, not in order)
        ordered = source.rdd.getNumPartitions() == 1 and len(source.inputFiles()) == 1
        quarantined: Counter[str] = Counter()
        qsql: list[str] = []
        checked = checked_sql(plan, f"SELECT * FROM {src_view}")
        stg = staged_sql(plan, checked, rf.name, rf.year)
        staged = con.write_dataset(stg, part, order_by=() if ordered else ("_source_line",))
        if staged != rows:
            if plan.checks:
                qsql.append(quarantined_sql(plan, checked, rf.name, "_ord"))
            if rf.format == "csv":
                qsql.append(
                    f"SELECT {quote_path(rf.name)} AS _source_file, _ord AS _source_line, "
                    "'malformed_line' AS reason, CAST(NULL AS VARCHAR) AS \"column\", "
                    f"_text AS raw_value, _detail AS detail FROM {bad_view}"
                )
        if qsql:
            union = " UNION ALL ".join(f"({s})" for s in qsql)
            con.write_dataset(f"SELECT * FROM ({union})", qpart, order_by=("_source_line",))
            quarantined.update(_reasons(con, qpart, rf.delimiter))
    finally:
        for view in views:
            con.drop(view)
        for path in written:
            con.storage.delete(path)
    return rows, staged, quarantined, bool(qsql)


def _join_records(lines: Any) -> Any:
    """Lines grouped into CSV records: a record starts at a line before which an even number
    of quotes was seen (outside any quoted value) and runs to the line that closes its quotes
    (or to the end of the file). ``_ord`` becomes DuckDB's number for such a file: the record
    ordinal plus the blank lines before the record; ``_text`` the lines joined with ``\\n``.
    Windows over the whole file: only for files with quoted line breaks (small referentials in
    practice)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.orderBy("_ord")
    upto = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    odd = F.col("_odd").cast("int")
    seen = lines.select(
        "_ord",
        "_text",
        "_valid",
        odd.alias("_o"),
        F.sum(odd).over(upto).alias("_c"),
        F.row_number().over(order).alias("_rn"),
    )
    starts = ((F.col("_c") - F.col("_o")) % 2 == 0).cast("int")
    grouped = seen.select("*", F.sum(starts).over(upto).alias("_rec")).groupBy("_rec")
    records = grouped.agg(
        F.sort_array(F.collect_list(F.struct("_ord", "_text"))).alias("_parts"),
        (F.min("_ord") - F.min("_rn")).alias("_blank"),
        F.min(F.col("_valid").cast("int")).alias("_v"),
    )
    return records.select(
        (F.col("_rec") + F.col("_blank")).cast("bigint").alias("_ord"),
        F.array_join(F.transform("_parts", lambda x: x["_text"]), "\n").alias("_text"),
        (F.col("_v") == 1).alias("_valid"),
    )


def _reasons(con: SparkConnection, qpart: str, delimiter: str) -> Counter[str]:
    """Rows per reason of a written quarantine part, plus two markers: ``_unquoted`` (malformed
    lines that end inside a quoted value: a quoted line break, or a quote never closed) and
    ``_bad_utf8`` (lines that are not valid UTF-8). One query through the connection."""
    rel = con.dataset(qpart)
    open_quote = f'(^|{_cls(delimiter)}) *"([^"]|"")*$'
    rows = con.fetchall(
        "SELECT reason, count(*), "
        f"coalesce(sum(CASE WHEN detail = {quote_path(UNQUOTED)} AND "
        f"regexp_matches(raw_value, {quote_path(open_quote)}) THEN 1 ELSE 0 END), 0), "
        f"coalesce(sum(CASE WHEN detail = {quote_path(BAD_UTF8)} THEN 1 ELSE 0 END), 0) "
        f"FROM {rel} GROUP BY reason"
    )
    con.drop(rel)  # the part may be rewritten (latin-1): no cached view of it
    out: Counter[str] = Counter()
    for reason, n, unquoted, bad_utf8 in rows:
        out[str(reason)] += int(n)
        out["_unquoted"] += int(unquoted)
        out["_bad_utf8"] += int(bad_utf8)
    return +out  # drops the zero markers


def _cls(ch: str) -> str:
    """A character as a regex bracket expression (no backslash: the same in DuckDB's RE2 and
    Java regexes, and in both SQL dialects' string literals)."""
    if ch == "^":
        return "[\\^]"
    return "[]]" if ch == "]" else f"[{ch}]"


# ---- reading -------------------------------------------------------------------------------


def _parquet_source(spark: Any, rf: RawFile) -> Any:
    """``_ord`` (``row_index + 1``) and every column as text ``c0 … cN`` (file order)."""
    import pyarrow.parquet as pq  # the raw input file's schema (a local input)
    from pyspark.sql import functions as F

    names = pq.read_schema(rf.path).names  # the order DuckDB's source_sql uses
    df = spark.read.parquet(hadoop_path(rf.path))
    cols = [
        F.col("`" + n.replace("`", "``") + "`").cast("string").alias(f"c{i}")
        for i, n in enumerate(names)
    ]
    return df.select((F.col("_metadata.row_index") + 1).cast("bigint").alias("_ord"), *cols)


def _rx(ch: str) -> str:
    """A character as a Java regex character class member / literal."""
    return "\\" + ch if ch in "\\^$.|?*+()[]{}-" else ch


def _csv_lines(spark: Any, rf: RawFile, encoding: str) -> Any:
    """One row per non-blank data line with ``_ord`` (its data line
    number), ``_text`` (the line, ``\\r`` dropped, decoded), ``_detail`` (NULL, or why the line
    is malformed, in DuckDB's words; :data:`BAD_UTF8` when a file read as UTF-8 is not) and
    ``c0 … cN`` (its fields, from ``from_csv``). A file read as one input split needs no
    numbering job."""
    from pyspark.sql import functions as F

    text = spark.read.option("lineSep", "\n").text(hadoop_path(rf.path))
    raw = text.select(
        F.col("value").alias("_v"),
        F.input_file_block_start().alias("_blk"),
        F.monotonically_increasing_id().alias("_mid"),
    )
    # ids count the lines of each partition from (partition << 33); one partition holds one
    # split here, so the ids of a single-partition read are the line indexes. With several
    # splits, one small job counts each split's lines and the ids are shifted into place.
    single = text.rdd.getNumPartitions() == 1
    shift: Any = F.lit(0)
    if not single:
        stats = raw.groupBy("_blk").agg(F.count(F.lit(1)).alias("n"), F.min("_mid").alias("m"))
        base, branches = 0, []
        for r in sorted(stats.collect(), key=lambda r: int(r["_blk"])):
            branches.append((int(r["_blk"]), base - int(r["m"])))
            base += int(r["n"])
        shift = F.when(F.col("_blk") == branches[0][0], branches[0][1])
        for blk, delta in branches[1:]:
            shift = shift.when(F.col("_blk") == blk, delta)
    value = F.col("_v")
    if encoding == "latin-1":
        value = F.decode(value.cast("binary"), "ISO-8859-1")
    valid = F.lit(True) if encoding == "latin-1" else F.expr("is_valid_utf8(_v)")
    lines = raw.select(
        (F.col("_mid") + shift).cast("bigint").alias("_ord"),
        F.regexp_replace(value, "\\r$", "").alias("_text"),
        valid.alias("_valid"),
    ).where("_ord > 0 AND _text <> ''")
    return _parse(lines, rf.delimiter, len(rf.columns))


def _parse(lines: Any, delimiter: str, n_cols: int) -> Any:
    """Add ``_detail`` (why a line is malformed, NULL if not) and ``c0 … c{n-1}``."""
    from pyspark.sql import functions as F

    d = _rx(delimiter)
    quoted = ' *+"(?:[^"]|"")*+" *+'
    unquoted = f' *+(?:[^{d}" ][^{d}]*+)?'
    field = f"(?:{quoted}|{unquoted})"
    tokenises = F.col("_text").rlike(f"^{field}(?:{d}{field})*+$")
    # fields with quoted values replaced by a placeholder ("" by nothing), then counted
    rem = F.regexp_replace(F.col("_text"), f'(^|{d}) *+"" *+(?={d}|$)', "$1")
    rem = F.regexp_replace(rem, f"(^|{d}){quoted}(?={d}|$)", "$1Q")
    parts = F.split(rem, d, -1)
    found = F.size(parts)
    extra = F.array_join(F.slice(parts, n_cols + 1, found - n_cols), "")
    expected = f"Expected Number of Columns: {n_cols} Found: "
    detail = (
        F.when(~F.col("_valid"), F.lit(BAD_UTF8))
        .when(~tokenises, F.lit(UNQUOTED))
        .when(found < n_cols, F.concat(F.lit("MISSING COLUMNS: " + expected), found.cast("string")))
        .when(
            (found > n_cols) & (extra != ""),
            F.lit(f"TOO MANY COLUMNS: {expected}{n_cols + 1}"),
        )
    )
    # spaces around a quoted value are not part of it (DuckDB), then parse
    norm = F.regexp_replace(F.col("_text"), f'(^|{d}) *+("(?:[^"]|"")*+") *+(?={d}|$)', "$1$2")
    schema = ", ".join(f"c{i} STRING" for i in range(n_cols))
    options = {"sep": delimiter, "quote": '"', "escape": '"', "mode": "PERMISSIVE"}
    parsed = F.from_csv(norm, schema, options)
    # a line that opens a quoted value left open at its end, or closes one opened before (an
    # odd number of quotes, at a field's start or end: a quote inside an unquoted value, which
    # DuckDB reads literally, does not count)
    quotes = F.length("_text") - F.length(F.regexp_replace("_text", '"', ""))
    opens = F.col("_text").rlike(f'(^|{d}) *+"(?:[^"]|"")*+$')
    closes = F.col("_text").rlike(f'^(?:[^"]|"")*+" *+(?:{d}|$)')
    return lines.select(
        "_ord",
        "_text",
        "_valid",
        ((quotes % 2 == 1) & (opens | closes)).alias("_odd"),
        detail.alias("_detail"),
        *[parsed.getField(f"c{i}").alias(f"c{i}") for i in range(n_cols)],
    )
