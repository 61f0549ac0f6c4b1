"""Find raw export files, fingerprint them and recognise their table and year.

One streamed pass per file computes its SHA-256 and counts its lines (decompressing gzip), so
row accounting never depends on the CSV parser. Recognition: an explicit mapping given by the
user (``--map FILE=TABLE``), else the file name (via the registry's ``resolve_file_stem``). A file
goes only where its name (or the user) says: a name that is an SNDS table outside the registry
(an SSR outpatient table, EGB ``EB_*``, DCIRS ``NS_*`` ...) is refused by name, and a header that
resembles a registry table (Jaccard >= 0.8, unique best) is only *suggested* in the refusal
message, never used to file the data. Unrecognised files are returned with ``table=None`` and a
``reason``: they are reported as refused, never silently ignored.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sndslab.errors import InvalidArgumentError
from sndslab.ingest._accounting import LineCounter
from sndslab.registry import (
    TableSpec,
    UnknownTableError,
    get_table,
    list_tables,
    resolve_file_stem,
)
from sndslab.registry._known import snds_table_of

CHUNK = 1 << 22  # 4 MiB
SNIFF_BYTES = 1 << 20  # encoding is decided on the first ~1 MB
JACCARD_MIN = 0.8
_SUFFIXES: tuple[str, ...] = (".csv.gz", ".txt.gz", ".csv", ".txt", ".parquet")
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d)(?!\d)")
#: Open DAMIR month files (CNAM's open-data product): ``A{YYYYMM}.csv[.gz]``.
OPENDAMIR_NAME = re.compile(r"^A(\d{4})(0[1-9]|1[0-2])\.csv(\.gz)?$", re.IGNORECASE)
_OPENDAMIR_SIGNATURE = frozenset(
    {"FLX_ANN_MOI", "AGE_BEN_SNDS", "BEN_RES_REG", "BEN_SEX_COD", "PRS_NAT", "SOI_ANN",
     "PRS_ACT_QTE", "PRS_PAI_MNT", "PSE_SPE_SNDS", "PRS_REM_MNT"}
)  # fmt: skip


def head_columns(path: Path) -> tuple[str, ...]:
    """The header names of a CSV file (gzip or not) from its first bytes; () if unreadable."""
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as f:
            head = f.read(1 << 16)
    except (OSError, EOFError, zlib.error):
        return ()
    return _header(head, _encoding(head))[1] if head else ()


def names_a_table(name: str) -> bool:
    """Whether a file name names a registry table (as :func:`discover` files it by name).

    >>> names_a_table("ER_PRS_F_2019.csv.gz"), names_a_table("README.md")
    (True, False)
    """
    stem, suffix = _strip_suffix(name.rsplit("/", 1)[-1])
    if suffix is None:
        return False
    tokens = stem.upper().split("_")
    for k in range(len(tokens), 0, -1):
        try:
            resolve_file_stem("_".join(tokens[:k]))
        except UnknownTableError:
            continue
        return True
    return False


def is_opendamir(name: str, columns: tuple[str, ...] | list[str]) -> bool:
    """Whether a raw file is an Open DAMIR month file: by its name (``A{YYYYMM}.csv[.gz]``) AND
    its header (at least 3 of the product's signature columns). Such files are not staged as
    an SNDS table: ``sndslab ingest`` reads them into the lake's ``opendamir/`` layer
    (:mod:`sndslab.opendamir`), and :func:`discover` leaves them out.

    >>> is_opendamir("A201901.csv.gz", ("FLX_ANN_MOI", "ORG_CLE_REG", "AGE_BEN_SNDS", "PRS_NAT"))
    True
    >>> is_opendamir("A201901.csv", ("BEN_NIR_PSA", "EXE_SOI_DTD")), is_opendamir("x.csv", ())
    (False, False)
    """
    base = name.rsplit("/", 1)[-1]
    upper = {c.strip().upper() for c in columns}
    return OPENDAMIR_NAME.match(base) is not None and len(upper & _OPENDAMIR_SIGNATURE) >= 3


@dataclass
class RawFile:
    """One raw export file as found on disk.

    ``name`` is the path relative to the raw directory (POSIX separators); ``columns`` are the
    header names upper-cased and stripped; ``data_lines`` the number of non-blank lines after
    the header (``rows`` of the Parquet metadata for Parquet); ``blank_lines`` their physical
    line numbers. ``table`` is ``None`` when the file cannot be ingested, with ``reason``.
    """

    path: Path
    name: str
    size: int
    sha256: str
    format: str  # "csv" | "parquet"
    compression: str | None = None  # "gzip" | None
    table: TableSpec | None = None
    year: int | None = None
    encoding: str = "utf-8"
    delimiter: str = ";"
    columns: tuple[str, ...] = ()
    data_lines: int = 0
    physical_lines: int = 0
    blank_lines: list[int] = field(default_factory=list)
    recognised_by: str | None = None  # "name" | "map"
    reason: str | None = None

    @property
    def table_name(self) -> str | None:
        return self.table.name if self.table is not None else None


def _strip_suffix(name: str) -> tuple[str, str | None]:
    low = name.lower()
    for suffix in _SUFFIXES:
        if low.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, None


def _scan(path: Path, compression: str | None) -> tuple[str, bytes, LineCounter]:
    """SHA-256 of the file bytes, the first ~1 MB of content, and its line counter."""
    sha = hashlib.sha256()
    counter = LineCounter()
    head = bytearray()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if compression == "gzip" else None
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            data = chunk
            if inflater is not None:
                data = inflater.decompress(chunk)
                while inflater.eof and inflater.unused_data:  # concatenated gzip members
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data += inflater.decompress(rest)
            counter.feed(data)
            if len(head) < SNIFF_BYTES:
                head += data[: SNIFF_BYTES - len(head)]
    return sha.hexdigest(), bytes(head), counter


def _encoding(head: bytes) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _header(head: bytes, encoding: str) -> tuple[str, tuple[str, ...]]:
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    text = line.decode(encoding, errors="replace").lstrip("\ufeff")
    # CNAM exports use ";"; "," (and tabs, "|") come from re-exports: the most frequent wins
    delimiter = max((";", ",", "\t", "|"), key=text.count)
    cols = tuple(c.strip().strip('"').strip().upper() for c in text.split(delimiter))
    return delimiter, cols if text.strip() else ()


def _by_header(columns: tuple[str, ...]) -> tuple[TableSpec | None, str | None]:
    """The registry table whose columns best match ``columns`` (a suggestion only), or the
    reason there is none."""
    have = set(columns)
    if not have:
        return None, "no header line"
    scores: list[tuple[float, str]] = []
    for name in list_tables():
        cols = {c.upper() for c in get_table(name).column_names}
        scores.append((len(have & cols) / len(have | cols), name))
    scores.sort(reverse=True)
    best, name = scores[0]
    if best < JACCARD_MIN:
        return None, f"not a registry table (best header match {name}: Jaccard {best:.2f})"
    if len(scores) > 1 and scores[1][0] == best:
        return None, f"header matches several tables equally ({name}, {scores[1][1]})"
    return get_table(name), None


def inspect_file(path: Path, raw_dir: Path | None = None, table: str | None = None) -> RawFile:
    """Fingerprint and recognise one file (never raises for bad content); ``table`` is the
    registry table the user mapped the file to, if any."""
    path = Path(path)
    rel = path.relative_to(raw_dir).as_posix() if raw_dir is not None else path.name
    stem, suffix = _strip_suffix(path.name)
    fmt = "parquet" if suffix == ".parquet" else "csv"
    compression = "gzip" if suffix is not None and suffix.endswith(".gz") else None
    size = path.stat().st_size
    rf = RawFile(path=path, name=rel, size=size, sha256="", format=fmt, compression=compression)
    if suffix is None:
        rf.sha256 = _scan(path, None)[0]
        rf.reason = "unsupported file type (expected .csv, .csv.gz, .txt or .parquet)"
        return rf
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            rf.sha256 = _scan(path, None)[0]
            meta = pq.read_metadata(path)
            rf.columns = tuple(n.strip().upper() for n in meta.schema.names)
            rf.data_lines = rf.physical_lines = meta.num_rows
        else:
            rf.sha256, head, counter = _scan(path, compression)
            rf.encoding = _encoding(head)
            rf.delimiter, rf.columns = _header(head, rf.encoding)
            rf.physical_lines = counter.lines
            rf.blank_lines = counter.blank_lines
            rf.data_lines = counter.data_lines()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        rf.reason = f"cannot read file: {exc}"
        return rf
    except Exception as exc:  # e.g. pyarrow's ArrowInvalid on a corrupt Parquet file
        rf.reason = f"cannot read file: {type(exc).__name__}: {exc}"
        return rf
    _recognise(rf, stem, table)
    return rf


def _year_in(stem: str, table: TableSpec) -> int | None:
    years = _YEAR.findall(stem)
    if years:
        return int(years[-1])
    if table.needs_year:
        short = re.findall(r"(?<!\d)(\d\d)(?!\d)", stem)
        return 2000 + int(short[-1]) if short else None
    return None


def _recognise(rf: RawFile, stem: str, mapped: str | None) -> None:
    if mapped is not None:
        rf.table, rf.recognised_by = get_table(mapped), "map"
        rf.year = _year_in(stem, rf.table)
        return
    tokens = stem.upper().split("_")
    # "ER_PRS_F_2019", then suffixed variants such as "ER_PRS_F_2019_01" or "IR_BEN_R_PART2"
    for k in range(len(tokens), 0, -1):
        try:
            rf.table, rf.year = resolve_file_stem("_".join(tokens[:k]))
        except UnknownTableError:
            continue
        rf.recognised_by = "name"
        return
    snds = snds_table_of(stem)
    if snds is not None:
        rf.reason = (
            f"{snds} is an SNDS table that sndslab does not ingest (not in its registry): "
            "refused by name"
        )
        return
    if rf.size == 0 or not rf.columns:
        rf.reason = "empty file: no header line and table not recognisable from its name"
        return
    table, reason = _by_header(rf.columns)
    if table is None:
        rf.reason = f"the file name names no SNDS table; header: {reason}"
        return
    rf.reason = (
        f"the file name names no SNDS table; its header resembles {table.name}: to stage it "
        f"there, map it explicitly (--map '{rf.name}={table.name}')"
    )


def _mapped_table(mapping: Mapping[str, str], rel: str, used: set[str]) -> str | None:
    name = rel.rsplit("/", 1)[-1]
    for key in (rel, name, _strip_suffix(name)[0]):
        if key in mapping:
            used.add(key)
            return mapping[key]
    return None


def discover(raw_dir: Path | str, mapping: Mapping[str, str] | None = None) -> list[RawFile]:
    """Every file under ``raw_dir`` (recursively, hidden files excluded), sorted by name; Open
    DAMIR month files (:func:`is_opendamir`) are left out: they go to ``opendamir/``.

    ``mapping`` files a raw file into a registry table explicitly: keys are a file's path
    relative to ``raw_dir``, its name or its stem; values registry table names. An unknown
    table or a key that matches no file is an :class:`~sndslab.errors.InvalidArgumentError`.
    """
    raw = Path(raw_dir)
    mapping = dict(mapping or {})
    for key, table in mapping.items():
        try:
            mapping[key] = get_table(table).name
        except UnknownTableError as exc:
            raise InvalidArgumentError(f"--map {key}={table}: {exc}") from None
    files = sorted(
        p
        for p in raw.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(raw).parts)
    )
    used: set[str] = set()
    found = [
        inspect_file(p, raw, _mapped_table(mapping, p.relative_to(raw).as_posix(), used))
        for p in files
        if not (OPENDAMIR_NAME.match(p.name) and is_opendamir(p.name, head_columns(p)))
    ]
    unused = sorted(set(mapping) - used)
    if unused:
        raise InvalidArgumentError(f"--map names file(s) not found in {raw}: {', '.join(unused)}")
    return found
