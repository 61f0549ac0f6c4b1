"""Vendored schema-snds value lists (MPL-2.0), read as all-string Arrow tables."""

from __future__ import annotations

import csv
import difflib
import io
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

import pyarrow as pa
import pyarrow.csv as pacsv

from sndslab.registry._errors import RegistryError

_PACKAGE = "sndslab.registry"

REGISTRY_SOURCE_NOTICE = (
    "SNDS table specs are derived from, and the nomenclatures under "
    "sndslab/registry/nomenclatures/ are copied unmodified from, indsante/schema-snds "
    "(https://github.com/indsante/schema-snds, mirror of gitlab.com/healthdatahub/schema-snds, "
    "snapshot 2020-12-15), licensed under the Mozilla Public License 2.0; see "
    "sndslab/registry/nomenclatures/LICENSE and NOTICE.md."
)


@lru_cache(maxsize=1)
def _index() -> dict[str, Traversable]:
    root = files(_PACKAGE).joinpath("nomenclatures")
    found: dict[str, Traversable] = {}
    for folder in sorted(root.iterdir(), key=lambda e: e.name):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".csv"):
                found[entry.name[: -len(".csv")]] = entry
    return found


def list_nomenclatures() -> list[str]:
    """Names of the vendored value lists (e.g. ``IR_NAT_V``), sorted."""
    return sorted(_index())


def _decode_header(data: bytes) -> tuple[str, str, str]:
    """Return (encoding, delimiter, header line) of a CSV payload."""
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "latin-1"
    first = data.split(b"\n", 1)[0].decode(encoding).lstrip("\ufeff").rstrip("\r")
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    return encoding, delimiter, first


@lru_cache(maxsize=32)
def load_nomenclature(name: str) -> pa.Table:
    """Read a vendored value list (``IR_NAT_V``, ``IR_CIM_V``, ``IR_CCAM_V63``...) as an Arrow
    table whose columns are all strings (empty cells are null). Codes keep their leading zeros.
    """
    index = _index()
    if name not in index:
        close = difflib.get_close_matches(name.upper(), list(index), n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RegistryError(f"unknown nomenclature {name!r}{hint}")
    data = index[name].read_bytes()
    encoding, delimiter, header = _decode_header(data)
    names = next(csv.reader(io.StringIO(header), delimiter=delimiter))
    return pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
