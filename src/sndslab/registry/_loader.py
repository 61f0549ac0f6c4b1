"""Loading the YAML table specs shipped in ``sndslab/registry/tables``."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

from sndslab.registry._errors import UnknownColumnError, UnknownTableError
from sndslab.registry._model import ColumnSpec, ForeignKey, TableSpec, YearRange

_PACKAGE = "sndslab.registry"

try:  # the C loader is ~10x faster
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


def _parse(data: dict[str, Any]) -> TableSpec:
    fks = tuple(
        ForeignKey(
            columns=tuple(fk["columns"]),
            ref_table=fk["references"]["table"],
            ref_columns=tuple(fk["references"]["columns"]),
        )
        for fk in data.get("foreign_keys") or []
    )
    return TableSpec(
        name=data["name"],
        product=data["product"],
        title=data["title"],
        grain=data["grain"],
        source=data["source"],
        file_stem=data["file_stem"],
        partition=data["partition"],
        date_format=data["date_format"],
        years=YearRange(**(data.get("years") or {})),
        primary_key=tuple(data.get("primary_key") or ()),
        foreign_keys=fks,
        columns=tuple(ColumnSpec(**col) for col in data["columns"]),
    )


@lru_cache(maxsize=1)
def _all_specs() -> dict[str, TableSpec]:
    folder = files(_PACKAGE).joinpath("tables")
    specs: dict[str, TableSpec] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            spec = _parse(yaml.load(entry.read_text(encoding="utf-8"), Loader=_Loader))
            specs[spec.name] = spec
    return specs


def list_tables() -> list[str]:
    """Names of every table in the registry, sorted (PMSI tables under generic ``aa`` names)."""
    return sorted(_all_specs())


@lru_cache(maxsize=1)
def _stem_patterns() -> list[tuple[re.Pattern[str], TableSpec]]:
    patterns = []
    for spec in _all_specs().values():
        regex = re.escape(spec.file_stem)
        regex = regex.replace(re.escape("{year}"), r"(?P<year>\d{4})")
        regex = regex.replace(re.escape("{yy}"), r"(?P<yy>\d{2})")
        patterns.append((re.compile(rf"^{regex}$", re.IGNORECASE), spec))
    return patterns


def _unknown(kind: str, value: str) -> UnknownTableError:
    candidates = list_tables() + [s.file_stem for s in _all_specs().values()]
    close = difflib.get_close_matches(value.upper(), sorted(set(candidates)), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownTableError(
        f"unknown SNDS {kind} {value!r}{hint} (known tables: sndslab.registry.list_tables())"
    )


def resolve_file_stem(stem: str) -> tuple[TableSpec, int | None]:
    """Table and year of an export file stem.

    >>> spec, year = resolve_file_stem("T_MCO20B")
    >>> spec.name, year
    ('T_MCOaaB', 2020)

    ``{yy}`` stems map to 2000 + yy. Matching ignores case. Raises
    :class:`UnknownTableError` (with close matches) when nothing matches.
    """
    for pattern, spec in _stem_patterns():
        match = pattern.match(stem)
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("year") is not None:
            return spec, int(groups["year"])
        if groups.get("yy") is not None:
            return spec, 2000 + int(groups["yy"])
        return spec, None
    raise _unknown("file stem", stem)


def get_table(name: str) -> TableSpec:
    """Spec of table ``name``: a registry name (``T_MCOaaB``, ``ER_PRS_F``) or a file stem
    (``T_MCO20B``, ``ER_PRS_F_2021``). Raises :class:`UnknownTableError`."""
    specs = _all_specs()
    if name in specs:
        return specs[name]
    for key, spec in specs.items():
        if key.upper() == name.upper():
            return spec
    try:
        return resolve_file_stem(name)[0]
    except UnknownTableError:
        raise _unknown("table", name) from None


@lru_cache(maxsize=1)
def _canonical_types() -> dict[str, str]:
    types: dict[str, str] = {}
    for spec in _all_specs().values():
        for col in spec.columns:
            types.setdefault(col.name, col.type)
    return types


def canonical_type(column_name: str) -> str:
    """The one canonical type (string, integer, number, date, datetime) of a column name.

    Raises :class:`UnknownColumnError` if no table of the registry has that column.
    """
    try:
        return _canonical_types()[column_name]
    except KeyError:
        close = difflib.get_close_matches(column_name.upper(), list(_canonical_types()), n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownColumnError(f"unknown SNDS column {column_name!r}{hint}") from None
