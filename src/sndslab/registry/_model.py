"""Table specs: columns, keys, file layout and Arrow schema of one SNDS table."""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from sndslab.registry._errors import RegistryError

CanonicalType = Literal["string", "integer", "number", "date", "datetime"]
Product = Literal[
    "DCIR",
    "PMSI MCO",
    "PMSI SSR",
    "PMSI HAD",
    "PMSI RIM-P",
    "BENEFICIAIRE",
    "CEPIDC",
    "REFERENTIEL",
]
Partition = Literal["flow_year", "year", "none"]

#: Arrow type of each canonical type.
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnSpec(_Frozen):
    """One column of a table: SNDS name, canonical type and what the schema says about it."""

    name: str
    type: CanonicalType
    length: str | None = None
    description: str = ""
    nomenclature: str | None = None
    source_type: str
    first_year: int | None = None
    last_year: int | None = None


class ForeignKey(_Frozen):
    """``columns`` of this table reference ``ref_columns`` of ``ref_table`` (same order)."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


class YearRange(_Frozen):
    """Years a table exists in (``None``: unknown or still produced)."""

    first: int | None = None
    last: int | None = None


class TableSpec(_Frozen):
    """One SNDS table: identity, grain, file layout, keys and columns (in export order)."""

    name: str
    product: Product
    title: str
    grain: str
    source: str
    file_stem: str
    partition: Partition
    date_format: str
    years: YearRange = Field(default_factory=YearRange)
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    columns: tuple[ColumnSpec, ...]

    def __repr__(self) -> str:
        return (
            f"TableSpec(name={self.name!r}, product={self.product!r}, columns={len(self.columns)})"
        )

    @property
    def column_names(self) -> list[str]:
        """Column names in export order."""
        return [c.name for c in self.columns]

    @property
    def date_columns(self) -> list[str]:
        """Columns typed ``date`` or ``datetime`` (parsed with :attr:`date_format`)."""
        return [c.name for c in self.columns if c.type in ("date", "datetime")]

    @property
    def needs_year(self) -> bool:
        """Whether the export file name carries a year (``{year}`` or ``{yy}``)."""
        return "{year}" in self.file_stem or "{yy}" in self.file_stem

    def column(self, name: str) -> ColumnSpec:
        """The column called ``name``; raises :class:`RegistryError` if the table has none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise RegistryError(f"table {self.name} has no column {name!r}")

    def file_name(self, year: int | None = None) -> str:
        """File name stem of the export for ``year`` (e.g. ``T_MCO20B``, ``ER_PRS_F_2021``).

        ``{year}`` is written with 4 digits, ``{yy}`` with 2 (years 2000-2099). Tables exported
        as a single file take no year.
        """
        if not self.needs_year:
            if year is not None:
                raise RegistryError(f"table {self.name} is exported as one file, without a year")
            return self.file_stem
        if year is None:
            raise RegistryError(
                f"table {self.name} is exported per year ({self.file_stem}): give a year"
            )
        if "{yy}" in self.file_stem and not 2000 <= year <= 2099:
            raise RegistryError(
                f"table {self.name} names files with a 2-digit year: {year} is outside 2000-2099"
            )
        if not 1000 <= year <= 9999:
            raise RegistryError(f"year {year} is not a 4-digit year")
        return self.file_stem.replace("{year}", f"{year:04d}").replace("{yy}", f"{year % 100:02d}")

    def arrow_schema(self) -> pa.Schema:
        """Arrow schema of the typed (staging) table: one field per column, in order."""
        return pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in self.columns])
