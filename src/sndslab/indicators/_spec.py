"""Indicator specs: one YAML file per indicator (``specs/*.yaml``), named code sets
(``code_sets.yaml``), and their pydantic twins.

An indicator is a numerator (persons or events on ``events.events``, deaths of
``events.patients``, practitioners of a lake table, or 30-day readmissions), a denominator
(the persons covered and alive in the period by residence, or the index events of a
readmission indicator), strata (``year`` or ``month``; ``region``, ``departement``; ``age_5y``,
``age_broad``; ``sex``), a unit, a source citation and short French and English descriptions.

>>> spec = load_indicators(names=["diabetes"])[0]
>>> spec.numerator.any_of[0].code_set, spec.unit, spec.time.unit
('diabetes_drugs', 100, 'year')
>>> code_sets()["gp_visit"].codes
('SPECIALTY//1', 'SPECIALTY//22', 'SPECIALTY//23')

Code entries are ``VOCAB//value`` (exact) or ``VOCAB//prefix*`` (every code starting with
the prefix); a code set may ``exclude`` entries of the same form. Load-time checks: YAML
shape, names, vocabularies, event categories, code-set names, ``int`` source tables, lake
tables and columns (through the table contracts of :mod:`sndslab.lake`), strata allowed for the
numerator's source. Every failure is one :class:`IndicatorSpecError` line naming the file and
the field.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sndslab._yaml import read_yaml_mapping
from sndslab.errors import SndslabError
from sndslab.events import Category, Vocab
from sndslab.lake import contract, contracts, split_name

__all__ = [
    "BUILTIN_DIR",
    "CODE_SETS_FILE",
    "STRATA",
    "CodeSet",
    "Criterion",
    "DeathsNumerator",
    "Denominator",
    "EventsNumerator",
    "IndicatorSpec",
    "IndicatorSpecError",
    "PractitionersNumerator",
    "ReadmissionsNumerator",
    "TimeSpec",
    "code_sets",
    "load_code_sets",
    "load_indicators",
]

BUILTIN_DIR = Path(__file__).parent / "specs"
CODE_SETS_FILE = Path(__file__).parent / "code_sets.yaml"

#: Every stratum an indicator may name (exactly one of ``year`` and ``month``).
STRATA: tuple[str, ...] = ("year", "month", "region", "departement", "age_5y", "age_broad", "sex")
_GEO_ONLY = ("year", "month", "region", "departement")


class IndicatorSpecError(SndslabError):
    """A spec or code set cannot be loaded; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_code(entry: str) -> str:
    vocab, sep, value = entry.partition("//")
    if not sep or not value:
        raise ValueError(f"code {entry!r} is not VOCAB//value or VOCAB//prefix*")
    if vocab not in {v.value for v in Vocab}:
        raise ValueError(
            f"code {entry!r}: unknown vocabulary {vocab!r} "
            f"(known: {', '.join(v.value for v in Vocab)})"
        )
    if "*" in value[:-1] or "'" in value:
        raise ValueError(f"code {entry!r}: '*' only at the end, no quote")
    return entry


class CodeSet(_Model):
    """A named list of codes (``VOCAB//value`` exact, ``VOCAB//prefix*`` prefix) minus
    ``exclude``, with its source."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    source: str
    codes: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ()

    @field_validator("codes", "exclude")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_code(c) for c in v)


class TimeSpec(_Model):
    """The time stratum: calendar ``year`` or ``month``; ``shift_months`` moves a yearly
    period (6: year Y = 1 July Y to 30 June Y+1, an influenza season)."""

    unit: Literal["year", "month"]
    shift_months: int = Field(default=0, ge=0, le=11)


class Criterion(_Model):
    """One way to be a case (the numerator is the union of its criteria): events of
    ``code_set`` in ``categories`` (optionally of ``sources`` int tables and ``modifiers``)
    in the window [period start − ``lookback_years``, period end]; at least ``min_dates``
    distinct days (within one calendar year of the window when ``per_year``); ``active``:
    events with an interval (ALD) overlapping the window instead."""

    code_set: str
    categories: tuple[Category, ...] = Field(min_length=1)
    sources: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    lookback_years: int = Field(default=0, ge=0, le=10)
    min_dates: int = Field(default=1, ge=1, le=366)
    per_year: bool = False
    active: bool = False

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        known = sorted(n.split(".", 1)[1] for n in contracts() if n.startswith("int."))
        for s in v:
            if s not in known:
                raise ValueError(f"unknown int table {s!r} (known: {', '.join(known)})")
        return v

    @field_validator("modifiers")
    @classmethod
    def _modifiers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any("'" in m for m in v):
            raise ValueError("no quote in a modifier")
        return v


class EventsNumerator(_Model):
    """Persons (``count: persons``) or events (``count: events``) matching any criterion;
    ``expenditure``: the amounts of every event of the numerator persons in the period."""

    source: Literal["events"]
    count: Literal["persons", "events"]
    any_of: tuple[Criterion, ...] = Field(min_length=1)
    expenditure: bool = False


class DeathsNumerator(_Model):
    """Persons of the denominator who died in the period (``events.patients.death_date``)."""

    source: Literal["deaths"]
    count: Literal["persons"] = "persons"


class PractitionersNumerator(_Model):
    """Practitioners of ``table`` (a lake table of practitioners, DA_PRA_R) by the
    département of their practice, filtered on their specialty or activity nature."""

    source: Literal["practitioners"]
    count: Literal["practitioners"] = "practitioners"
    table: str = "int.practitioners"
    id_column: str = "PFS_PFS_NUM"
    specialty_column: str = "PFS_PRA_SPE"
    nature_column: str = "EXC_EXC_NAT"
    commune_column: str = "PFS_EXC_COM"
    year_column: str = "DTE_ANN_TRT"
    install_column: str = "PFS_INS_DSD"
    specialties: tuple[str, ...] = ()
    exclude_specialties: tuple[str, ...] = ()
    natures: tuple[str, ...] = ()

    @field_validator("specialties", "exclude_specialties", "natures")
    @classmethod
    def _plain(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.isalnum() for s in v):
            raise ValueError(f"codes must be alphanumeric, got {list(v)}")
        return v

    def columns(self) -> dict[str, str]:
        return {
            f: getattr(self, f)
            for f in (
                "id_column",
                "specialty_column",
                "nature_column",
                "commune_column",
                "year_column",
                "install_column",
            )
        }


class ReadmissionsNumerator(_Model):
    """Index events (``index``: a code set of stays) followed by an event of ``readmission``
    starting in (index end, index end + ``within_days``]; the denominator is the index
    events (``denominator.kind: index_events``)."""

    source: Literal["readmissions"]
    count: Literal["events"] = "events"
    index: str
    readmission: str
    categories: tuple[Category, ...] = (Category.STAY,)
    within_days: int = Field(default=30, ge=1, le=365)


Numerator = Annotated[
    EventsNumerator | DeathsNumerator | PractitionersNumerator | ReadmissionsNumerator,
    Field(discriminator="source"),
]


class Denominator(_Model):
    """``population``: persons covered and alive in the period by residence
    (``events.patients``: born on or before the period end, not dead before its start), aged
    ``min_age``–``max_age`` in the period's year, of ``sex``; ``index_events``: the index
    events of a readmission numerator."""

    kind: Literal["population", "index_events"] = "population"
    table: str = "events.patients"
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    sex: Literal[1, 2] | None = None


class Text(_Model):
    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)


class IndicatorSpec(_Model):
    """One indicator (see the module docstring and ``specs/*.yaml``)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    family: Literal["pathology", "consumption", "supply", "hospital", "prevention", "uptake"]
    title: Text
    description: Text
    source: str = Field(min_length=1)
    deviations: str = ""
    synthetic_note: str = ""
    unit: Literal[1, 100, 1000, 100000]
    time: TimeSpec
    strata: tuple[str, ...] = Field(min_length=1)
    numerator: Numerator
    denominator: Denominator = Denominator()
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("strata")
    @classmethod
    def _strata(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for s in v:
            if s not in STRATA:
                raise ValueError(f"unknown stratum {s!r} (known: {', '.join(STRATA)})")
        if len(set(v)) != len(v):
            raise ValueError("a stratum is listed twice")
        return v

    def code_set_names(self) -> list[tuple[str, str]]:
        """``(field path, code set name)`` of every code set the spec names."""
        num = self.numerator
        if isinstance(num, EventsNumerator):
            return [
                (f"numerator.any_of.{i}.code_set", c.code_set) for i, c in enumerate(num.any_of)
            ]
        if isinstance(num, ReadmissionsNumerator):
            return [("numerator.index", num.index), ("numerator.readmission", num.readmission)]
        return []

    @property
    def geo_levels(self) -> tuple[str, ...]:
        return ("france", *(s for s in ("region", "departement") if s in self.strata))

    @property
    def age_levels(self) -> tuple[str, ...]:
        return ("all", *(s for s in ("age_broad", "age_5y") if s in self.strata))

    @property
    def by_sex(self) -> bool:
        return "sex" in self.strata


def _fail(where: Path | str, field: str, msg: str) -> IndicatorSpecError:
    first = msg.strip().splitlines()[0] if msg.strip() else msg
    return IndicatorSpecError(f"indicator spec {where}: field {field!r}: {first}")


_TAGS = {"events", "deaths", "practitioners", "readmissions"}


def _loc(err: Any) -> str:
    """The field path of a pydantic error, without the numerator's union tag."""
    parts = [str(x) for x in err["loc"] if not str(x).startswith("function-")]
    parts = [
        p for i, p in enumerate(parts) if not (i and parts[i - 1] == "numerator" and p in _TAGS)
    ]
    return ".".join(parts) or "<root>"


def load_code_sets(path: Path = CODE_SETS_FILE) -> dict[str, CodeSet]:
    """The code sets of ``path`` (a mapping ``name: {description, source, codes, exclude}``)."""
    raw = read_yaml_mapping(path, "code sets", IndicatorSpecError)
    if not isinstance(raw.get("code_sets"), dict):
        raise IndicatorSpecError(f"code sets {path}: expected a mapping 'code_sets' at top level")
    out: dict[str, CodeSet] = {}
    for name, body in raw["code_sets"].items():
        if not isinstance(body, dict):
            raise IndicatorSpecError(f"code sets {path}: field {name!r}: expected a mapping")
        try:
            out[name] = CodeSet.model_validate({**body, "name": name})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise IndicatorSpecError(
                f"code sets {path}: field '{name}.{_loc(err)}': {err['msg']}"
            ) from exc
    return out


@cache
def code_sets() -> dict[str, CodeSet]:
    """The built-in code sets (``code_sets.yaml``)."""
    return load_code_sets()


def _columns_of(table: str) -> set[str] | None:
    """Declared columns of a lake table (its contract and passthrough), None if unknown."""
    spec = contract(table)
    if spec is None:
        return None
    return {c.name for c in spec.columns} | spec.allowed_extra()


def _check_tables(spec: IndicatorSpec, where: Path | str) -> None:
    den = spec.denominator
    if den.kind == "population":
        cols = _columns_of(den.table)
        if cols is None:
            raise _fail(where, "denominator.table", f"unknown lake table {den.table!r}")
        needed = {
            "person_id",
            "sex",
            "birth_date",
            "death_date",
            "residence_dpt",
            "residence_region",
        }
        missing = sorted(needed - cols)
        if missing:
            raise _fail(where, "denominator.table", f"{den.table} lacks column(s) {missing}")
    num = spec.numerator
    if isinstance(num, PractitionersNumerator):
        try:
            split_name(num.table)
        except SndslabError as exc:
            raise _fail(where, "numerator.table", str(exc)) from exc
        cols = _columns_of(num.table)
        if cols is None:
            raise _fail(where, "numerator.table", f"unknown lake table {num.table!r}")
        for field, col in num.columns().items():
            if col not in cols:
                raise _fail(where, f"numerator.{field}", f"{num.table} has no column {col!r}")


def _check_coherence(spec: IndicatorSpec, where: Path | str, sets: dict[str, CodeSet]) -> None:
    for field, name in spec.code_set_names():
        if name not in sets:
            raise _fail(where, field, f"unknown code set {name!r} (see {CODE_SETS_FILE.name})")
    times = [s for s in spec.strata if s in ("year", "month")]
    if times != [spec.time.unit]:
        raise _fail(where, "strata", f"name exactly one time stratum, {spec.time.unit!r}")
    if spec.time.unit == "month" and spec.time.shift_months:
        raise _fail(where, "time.shift_months", "only a yearly period can be shifted")
    num, den = spec.numerator, spec.denominator
    if isinstance(num, PractitionersNumerator):
        bad = [s for s in spec.strata if s not in _GEO_ONLY]
        if bad:
            raise _fail(where, "strata", f"stratum {bad[0]!r} is not defined for practitioners")
    if (den.kind == "index_events") != isinstance(num, ReadmissionsNumerator):
        raise _fail(
            where, "denominator.kind", "index_events goes with a readmissions numerator only"
        )
    if den.min_age is not None and den.max_age is not None and den.min_age > den.max_age:
        raise _fail(where, "denominator.max_age", "max_age is below min_age")
    if isinstance(num, EventsNumerator):
        for i, c in enumerate(num.any_of):
            if num.count == "events" and (c.min_dates > 1 or c.lookback_years or c.active):
                raise _fail(
                    where,
                    f"numerator.any_of.{i}",
                    "min_dates, lookback_years and active need count: persons",
                )
            if c.per_year and c.min_dates == 1:
                raise _fail(where, f"numerator.any_of.{i}.per_year", "per_year needs min_dates > 1")
            if c.active and c.min_dates > 1:
                raise _fail(where, f"numerator.any_of.{i}.active", "active excludes min_dates")


def _parse(path: Path, sets: dict[str, CodeSet]) -> IndicatorSpec:
    raw = read_yaml_mapping(path, "indicator spec", IndicatorSpecError)
    try:
        spec = IndicatorSpec.model_validate({**raw, "path": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _fail(path, _loc(err), err["msg"]) from exc
    if spec.name != path.stem:
        raise _fail(path, "name", f"{spec.name!r} differs from the file name {path.stem!r}")
    _check_coherence(spec, path, sets)
    _check_tables(spec, path)
    return spec


def load_indicators(
    *,
    names: list[str] | tuple[str, ...] | None = None,
    extra_dirs: tuple[Path, ...] | list[Path] = (),
    builtin: bool = True,
    sets: dict[str, CodeSet] | None = None,
) -> list[IndicatorSpec]:
    """Load and validate the built-in specs plus any ``*.yaml`` of ``extra_dirs``; ``names``
    keeps only those (an unknown name is an error); duplicate names are an error."""
    known_sets = code_sets() if sets is None else sets
    files: list[Path] = sorted(BUILTIN_DIR.glob("*.yaml")) if builtin else []
    for d in extra_dirs:
        if not Path(d).is_dir():
            raise IndicatorSpecError(f"indicator directory {d} does not exist")
        files.extend(sorted(Path(d).glob("*.yaml")))
    specs: list[IndicatorSpec] = []
    seen: dict[str, Path] = {}
    for f in files:
        spec = _parse(f, known_sets)
        if spec.name in seen:
            raise _fail(f, "name", f"duplicate indicator {spec.name!r} (also in {seen[spec.name]})")
        seen[spec.name] = f
        specs.append(spec)
    if names is not None:
        unknown = sorted(set(names) - set(seen))
        if unknown:
            raise IndicatorSpecError(
                f"unknown indicator(s) {unknown}; known: {', '.join(sorted(seen))}"
            )
        specs = [s for s in specs if s.name in set(names)]
    return specs
