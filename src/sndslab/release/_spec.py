"""The declarative spec of a table of aggregates (YAML ↔ pydantic twin) and the refusals that do
not depend on the numbers: identifiers, day-level dates, undeclared columns, a lowered threshold.

A table is a set of *cells*: one row per combination of dimension codes, margins included. Each
dimension is a hierarchy spanning one or more columns, from the coarsest to the finest level;
a level's ``total`` is the code meaning "all" (``"ALL"``, ``"00"``), so the row
``region=84, departement=ALL`` is the margin of région 84 and ``region=ALL, departement=ALL``
is France. A level without a total (``year``) has no margin above it: its codes are separate
roots. ``count`` is the column of distinct persons on which suppression is decided; every
``measures`` column is derived from it and is suppressed with it.

>>> spec = TableSpec.model_validate({
...     "name": "demo", "count": "n_persons",
...     "dimensions": [
...         {"name": "geo", "levels": [{"column": "region", "total": "ALL"},
...                                    {"column": "departement", "total": "ALL"}]},
...         {"name": "sex", "levels": [{"column": "sex", "total": "0"}]}],
...     "measures": [{"column": "rate", "kind": "rate"}]})
>>> spec.columns()
['region', 'departement', 'sex', 'n_persons', 'rate']
>>> TableSpec.from_yaml(spec.to_yaml()) == spec
True
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sndslab.errors import SndslabError

__all__ = [
    "DEFAULT_THRESHOLD",
    "Dimension",
    "IdentifierError",
    "Level",
    "Measure",
    "ReleaseError",
    "ReleaseRefusedError",
    "TableSpec",
    "check_columns",
    "check_threshold",
]

#: The French small-cell rule: no released cell may count fewer than 11 persons (CNAM, HDH,
#: CASD, ATIH/ScanSanté; see docs/release.md).
DEFAULT_THRESHOLD = 11


class ReleaseError(SndslabError):
    """A release cannot be made as requested (bad spec, bad table, lowered threshold)."""


class ReleaseRefusedError(ReleaseError):
    """The gate refuses to release: the table would disclose a small cell, identifiers or dates
    at day precision, or it cannot be protected."""


class IdentifierError(ReleaseRefusedError):
    """A column would release person, practitioner or establishment identifiers."""


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Column names that carry identifiers (case-insensitive, whole name). Persons are never
#: released; practitioners and establishments only as a declared ``unit`` dimension with the
#: explicit ``allow_unit_level`` flag.
PERSON_ID = re.compile(
    r"^(person_id|patient_id|subject_id|id_patient|ben_idt_ano|num_enq|nir|"
    r"ben_nir\w*|\w*_nir|nir_\w*|\w*_nir_\w*)$",
    re.IGNORECASE,
)
UNIT_ID = {
    "practitioner": re.compile(
        r"^(pfs_\w*|pse_\w*_num|prs_\w*_num|\w*rpps\w*|\w*adeli\w*|practitioner_id|"
        r"prescriber_id|executor_id|pra_num\w*)$",
        re.IGNORECASE,
    ),
    "establishment": re.compile(
        r"^(eta_num\w*|\w*finess\w*|establishment_id|eta_id)$", re.IGNORECASE
    ),
}
#: Values that look like a NIR (13 or 15 digits starting with the sex digit) or a hashed
#: pseudonym (16+ hex digits).
_ID_VALUE = r"^([12][0-9]{12}([0-9]{2})?|[0-9a-fA-F]{16,})$"
#: A text value with a day: 2022-03-15, 15/03/2022, 20220315.
_DAY_VALUE = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{2}/[0-9]{2}/[0-9]{4}"
    r"|(19|20)[0-9]{2}(0[1-9]|1[0-2])[0-3][0-9]$)"
)

MeasureKind = Literal["rate", "percentage", "amount", "events", "mean", "population"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(_Model):
    """One column of a dimension; ``total`` is its "all" code (None: no margin above it)."""

    column: str
    total: str | None = None
    description: str = ""

    @field_validator("column")
    @classmethod
    def _column_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"column {value!r} is not an identifier")
        return value


class Dimension(_Model):
    """A hierarchy over one or more columns, coarsest first.

    ``parents`` (single-column dimensions only) maps a code to its parent code inside the same
    column (nested age bands, a month code inside its year code); unlisted codes are children
    of the total. ``additive`` says whether the person count of a parent is the sum of its
    children's (False for distinct persons over months: a person seen in two months counts
    once in the year; the attack then uses ``max(children) <= parent <= sum(children)``).
    ``unit`` marks a practitioner or establishment dimension (released only on request).
    """

    name: str
    levels: list[Level] = Field(min_length=1)
    parents: dict[str, str] = Field(default_factory=dict)
    additive: bool = True
    unit: Literal["practitioner", "establishment"] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> Dimension:
        if self.parents and len(self.levels) != 1:
            raise ValueError(f"dimension {self.name}: parents needs exactly one level")
        for level in self.levels[1:]:
            if level.total is None:
                raise ValueError(
                    f"dimension {self.name}: level {level.column} needs a total "
                    "(only the coarsest level may have none)"
                )
        return self

    @property
    def columns(self) -> list[str]:
        return [lv.column for lv in self.levels]


class Measure(_Model):
    """A column derived from the person count, suppressed with it."""

    column: str
    kind: MeasureKind
    description: str = ""


class TableSpec(_Model):
    """A table of aggregate cells: dimensions (hierarchies), the person count, the measures.

    ``name`` identifies what is counted (an indicator and its population): cells of two tables
    with the same ``name`` and the same codes are the same cell, which is how the attack links
    a new release with the previous ones.
    """

    name: str
    count: str
    dimensions: list[Dimension] = Field(min_length=1)
    #: File stem of the released table (default: ``name``). Two tables of one release may share
    #: a ``name`` (they count the same persons and are protected as one linked table) but not a
    #: file.
    file: str | None = None
    measures: list[Measure] = Field(default_factory=list)
    description: str = ""
    count_description: str = "number of distinct persons"

    @model_validator(mode="after")
    def _unique(self) -> TableSpec:
        cols = self.columns()
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise ValueError(f"columns declared twice: {', '.join(dup)}")
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ValueError("dimension names must be unique")
        return self

    @property
    def stem(self) -> str:
        """The released files' stem: ``file`` or ``name``."""
        return self.file or self.name

    def columns(self) -> list[str]:
        """Every declared column: dimension levels, the count, the measures."""
        dims = [c for d in self.dimensions for c in d.columns]
        return [*dims, self.count, *(m.column for m in self.measures)]

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> TableSpec:
        """Load a spec from YAML text or a ``.yaml`` file; errors name the file and field."""
        where = "spec"
        text = str(text_or_path)
        if isinstance(text_or_path, Path) or (
            "\n" not in text and text.endswith((".yaml", ".yml"))
        ):
            path = Path(text_or_path)
            where = str(path)
            try:
                text = path.read_text("utf-8")
            except OSError as exc:
                raise ReleaseError(f"{where}: cannot read the spec ({exc.strerror})") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ReleaseError(f"{where}: not valid YAML ({exc})") from exc
        return cls.parse(data, where=where)

    @classmethod
    def parse(cls, data: Any, *, where: str = "spec") -> TableSpec:
        """Validate a mapping; a ``ReleaseError`` names the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise ReleaseError(f"{where}: {loc}: {first['msg']}") from exc

    @classmethod
    def from_candidate(
        cls,
        candidate: Any,
        *,
        name: str,
        totals: dict[str, str] | None = None,
        kinds: dict[str, MeasureKind] | None = None,
    ) -> TableSpec:
        """A flat spec for an analysis' release candidate (``sndslab.analysis.ReleaseCandidate``:
        ``dimensions``, ``count_column``, ``measures``): one single-level dimension per column,
        with its total code from ``totals`` (a dimension without one has no margin, so its
        cells are independent), measures of kind ``amount`` unless ``kinds`` says otherwise.

        >>> from types import SimpleNamespace
        >>> c = SimpleNamespace(dimensions=("sex",), count_column="persons", measures=("events",))
        >>> spec = TableSpec.from_candidate(c, name="x", totals={"sex": "0"},
        ...                                 kinds={"events": "events"})
        >>> spec.dimensions[0].levels[0].total, spec.measures[0].kind
        ('0', 'events')
        """
        totals, kinds = totals or {}, kinds or {}
        return cls.parse(
            {
                "name": name,
                "count": candidate.count_column,
                "dimensions": [
                    {"name": d, "levels": [{"column": d, "total": totals.get(d)}]}
                    for d in candidate.dimensions
                ],
                "measures": [
                    {"column": m, "kind": kinds.get(m, "amount")} for m in candidate.measures
                ],
                "description": str(getattr(candidate, "title", "")),
            },
            where=f"release candidate {name}",
        )

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(exclude_defaults=True), sort_keys=False)


def check_threshold(threshold: int) -> int:
    """The threshold may only be raised above the default of 11, never lowered.

    >>> check_threshold(20)
    20
    >>> check_threshold(5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sndslab.release._spec.ReleaseRefusedError: threshold 5 is below the minimum of 11 ...
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ReleaseError(f"threshold must be an integer, not {threshold!r}")
    if threshold < DEFAULT_THRESHOLD:
        raise ReleaseRefusedError(
            f"threshold {threshold} is below the minimum of {DEFAULT_THRESHOLD} persons "
            "(the threshold can only be raised)"
        )
    return threshold


def _unit_of(spec: TableSpec, column: str) -> str | None:
    for dim in spec.dimensions:
        if column in dim.columns:
            return dim.unit
    return None


def check_columns(table: pa.Table, spec: TableSpec, *, allow_unit_level: bool = False) -> None:
    """Refuse identifiers, day-level dates, undeclared or missing columns (one-line errors)."""
    declared = spec.columns()
    for name in table.column_names:
        if PERSON_ID.match(name):
            raise IdentifierError(f"column {name} is a person identifier: never released")
        unit = _unit_of(spec, name)
        for kind, pattern in UNIT_ID.items():
            if pattern.match(name) and not (unit == kind and allow_unit_level):
                raise IdentifierError(
                    f"column {name} is a {kind} identifier: released only as a declared "
                    f"unit: {kind} dimension with allow_unit_level=True"
                )
    extra = [c for c in table.column_names if c not in declared]
    if extra:
        raise ReleaseRefusedError(
            f"table {spec.name}: column(s) {', '.join(extra)} not declared in the spec "
            "(an undeclared column is never released)"
        )
    missing = [c for c in declared if c not in table.column_names]
    if missing:
        raise ReleaseError(f"table {spec.name}: declared column(s) {', '.join(missing)} missing")
    for dim in spec.dimensions:
        if dim.unit is not None and not allow_unit_level:
            raise ReleaseRefusedError(
                f"dimension {dim.name} is {dim.unit}-level: pass allow_unit_level=True to "
                f"release it (each {dim.unit} must then count >= the threshold)"
            )
        for col in dim.columns:
            _check_dimension_values(table, col, allowed_ids=dim.unit is not None)
    for col in (spec.count, *(m.column for m in spec.measures)):
        typ = table.schema.field(col).type
        if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)):
            raise ReleaseError(f"table {spec.name}: column {col} must be numeric, not {typ}")


def _check_dimension_values(table: pa.Table, col: str, *, allowed_ids: bool) -> None:
    typ = table.schema.field(col).type
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ) or pa.types.is_time(typ):
        raise ReleaseRefusedError(
            f"column {col} is a {typ} (day precision or finer): release dates as a year or a "
            "month code ('2022-03') at most"
        )
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        if pa.types.is_integer(typ) or pa.types.is_dictionary(typ):
            return
        raise ReleaseError(f"column {col}: a dimension must be text or integer, not {typ}")
    values = pc.unique(table.column(col)).drop_null()
    if len(values) and pc.any(pc.match_substring_regex(values, _DAY_VALUE)).as_py():
        raise ReleaseRefusedError(
            f"column {col} holds dates at day precision: release a year or a month ('2022-03')"
        )
    if (
        not allowed_ids
        and len(values)
        and pc.any(pc.match_substring_regex(values, _ID_VALUE)).as_py()
    ):
        raise IdentifierError(
            f"column {col} holds values shaped like a NIR or a hashed pseudonym: never released"
        )
