"""Cohort specs: one YAML file per cohort (``specs/*.yaml`` for the built-in ones) and its
pydantic twin, validated when loaded.

A cohort (:class:`CohortSpec`) is named concept sets (event filters over the codes of the
lake, ``VOCAB//value`` exact or ``VOCAB//prefix*``, with descendants through
``events.codes.parent_codes`` and exclusions, or a named code set of
``sndslab/indicators/code_sets.yaml``), an index (the first or every event of a concept set, or
a fixed date for a population), demographics at index (age, sex, région, département), the
observation (study start and end, required prior days, loss to follow-up after a gap without
care; death comes from ``events.patients``) and inclusion and exclusion criteria counting the
events of a concept set in a window of days relative to index. A set operation
(:class:`SetOperationSpec`) combines cohorts (union, intersection, difference).

>>> spec = load_cohort("hip_fracture_65_plus")
>>> spec.index.concept_set, spec.demographics.min_age, spec.index.occurrence
('hip_fracture', 65, 'first')
>>> spec.criteria()[0].window
(-365, -1)

Every failure is one :class:`CohortSpecError` line naming the file and the offending part.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sndslab._yaml import read_yaml_mapping
from sndslab.errors import SndslabError
from sndslab.events import Category, Vocab
from sndslab.indicators import code_sets

__all__ = [
    "BUILTIN_DIR",
    "CARE_CATEGORIES",
    "CohortSpec",
    "CohortSpecError",
    "ConceptSet",
    "Criterion",
    "Demographics",
    "IndexSpec",
    "Observation",
    "SetOperationSpec",
    "Spec",
    "builtin_cohorts",
    "load_cohort",
]

BUILTIN_DIR = Path(__file__).parent / "specs"

#: Event categories that are care (a contact with the health system): what the loss to
#: follow-up looks for. ALD starts and causes of death are administrative, not care.
CARE_CATEGORIES: tuple[Category, ...] = (
    Category.DISPENSING,
    Category.HOSPITAL_DISPENSING,
    Category.ACT,
    Category.BIOLOGY,
    Category.VISIT,
    Category.DIAGNOSIS,
    Category.STAY,
    Category.EMERGENCY,
    Category.REHABILITATION,
)

#: Vocabularies that only occur as parents in ``events.codes`` (usable with ``descendants``).
PARENT_ONLY_VOCABULARIES = ("ICD10_CHAPTER", "GHM_CMD")

_NAME = r"^[a-z][a-z0-9_]*$"


class CohortSpecError(SndslabError):
    """A cohort spec cannot be loaded or built; the message names the file and the part."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_code(entry: str) -> str:
    """A code entry: ``VOCAB//value`` (exact) or ``VOCAB//prefix*`` (prefix).

    >>> check_code("ATC//N05BA*")
    'ATC//N05BA*'
    >>> check_code("ATX//N05")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: code 'ATX//N05': unknown vocabulary 'ATX' (known: ATC, CIP13, UCD, ICD10, ...)
    """
    vocab, sep, value = entry.partition("//")
    if not sep or not value or value == "*":
        raise ValueError(f"code {entry!r} is not VOCAB//value or VOCAB//prefix*")
    known = [v.value for v in Vocab] + list(PARENT_ONLY_VOCABULARIES)
    if vocab not in known:
        raise ValueError(
            f"code {entry!r}: unknown vocabulary {vocab!r} (known: {', '.join(known)})"
        )
    if "*" in value[:-1] or "'" in value or "\\" in value:
        raise ValueError(f"code {entry!r}: '*' only at the end, no quote or backslash")
    return entry


class ConceptSet(_Model):
    """Events of the lake: codes (``VOCAB//value`` exact, ``VOCAB//prefix*``) minus
    ``exclude``, or a named indicator ``code_set``; ``descendants``: a code also matches when
    one of its parents (``events.codes.parent_codes``: ATC levels, the ATC class of a CIP13,
    the ICD-10 category and chapter, the GHM major category) matches; ``categories`` and
    ``modifiers`` (``DP``, ``DR``, ``DAS``...) filter the events. Without codes: every event of
    ``categories``."""

    description: str = ""
    codes: tuple[str, ...] = ()
    code_set: str | None = None
    exclude: tuple[str, ...] = ()
    descendants: bool = False
    categories: tuple[Category, ...] = ()
    modifiers: tuple[str, ...] = ()

    @field_validator("codes", "exclude")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_code(c) for c in v)

    @field_validator("code_set")
    @classmethod
    def _code_set(cls, v: str | None) -> str | None:
        if v is not None and v not in code_sets():
            raise ValueError(
                f"unknown code set {v!r} (sndslab/indicators/code_sets.yaml has "
                f"{len(code_sets())}, e.g. {', '.join(sorted(code_sets())[:4])})"
            )
        return v

    @field_validator("modifiers")
    @classmethod
    def _modifiers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not m.replace("_", "").isalnum() for m in v):
            raise ValueError(f"modifiers must be alphanumeric, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _something(self) -> ConceptSet:
        if self.codes and self.code_set is not None:
            raise ValueError("give either 'codes' or 'code_set', not both")
        if not self.codes and self.code_set is None and not self.categories:
            raise ValueError("a concept set needs 'codes', a 'code_set' or 'categories'")
        return self

    def entries(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(codes, exclusions) with a named code set resolved."""
        if self.code_set is not None:
            cs = code_sets()[self.code_set]
            return cs.codes, (*cs.exclude, *self.exclude)
        return self.codes, self.exclude


class IndexSpec(_Model):
    """The index event: the ``first`` (earliest in the lake) or ``all`` events of
    ``concept_set``, or a fixed ``date`` (a population: every person of
    ``events.patients``)."""

    concept_set: str | None = None
    date: dt.date | None = None
    occurrence: Literal["first", "all"] = "first"

    @model_validator(mode="after")
    def _one(self) -> IndexSpec:
        if (self.concept_set is None) == (self.date is None):
            raise ValueError("give exactly one of 'concept_set' and 'date'")
        if self.date is not None and self.occurrence != "first":
            raise ValueError("'occurrence' applies to a concept set, not to a fixed date")
        return self


class Demographics(_Model):
    """Who may enter, at index: age in full years (birth date of ``events.patients``), sex
    (1 male, 2 female), résidence région or département codes."""

    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    sex: tuple[Literal[1, 2], ...] = ()
    regions: tuple[str, ...] = ()
    departements: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _ages(self) -> Demographics:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        for code in (*self.regions, *self.departements):
            if not code.isalnum():
                raise ValueError(f"territory code {code!r} is not alphanumeric")
        return self


class Observation(_Model):
    """The study period and what ends observation.

    Index dates must lie in [``study_start``, ``study_end``]; ``prior_days`` of data before
    index are required (data start at ``data_start``, default the study start; default
    ``prior_days``: the longest look-back of the criteria, so that a washout is always
    observed); observation ends at the study end, the death, or the last care day before a gap
    of ``loss_after_days`` days without any care (``None``: no loss to follow-up).
    """

    study_start: dt.date
    study_end: dt.date
    data_start: dt.date | None = None
    prior_days: int | None = Field(default=None, ge=0, le=3660)
    loss_after_days: int | None = Field(default=None, ge=1, le=3660)

    @model_validator(mode="after")
    def _period(self) -> Observation:
        if self.study_end < self.study_start:
            raise ValueError(f"study_end {self.study_end} is before study_start {self.study_start}")
        if self.data_start is not None and self.data_start > self.study_start:
            raise ValueError(f"data_start {self.data_start} is after study_start")
        return self

    @property
    def first_data_day(self) -> dt.date:
        return self.data_start or self.study_start


class Criterion(_Model):
    """Events of ``concept_set`` counted in ``window`` (days relative to index, both ends
    included: ``[-365, -1]`` is the year before index); an inclusion keeps the rows whose
    count lies in [``min_count``, ``max_count``], an exclusion drops those with at least
    ``min_count``. ``count``: events, or distinct days."""

    name: str = Field(min_length=1)
    concept_set: str
    window: tuple[int, int]
    min_count: int = Field(default=1, ge=0)
    max_count: int | None = Field(default=None, ge=0)
    count: Literal["events", "days"] = "events"
    kind: Literal["inclusion", "exclusion"] = "inclusion"

    @field_validator("window")
    @classmethod
    def _window(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if lo > hi:
            raise ValueError(f"window [{lo}, {hi}] ends before it starts")
        if max(abs(lo), abs(hi)) > 36600:
            raise ValueError(f"window [{lo}, {hi}] is longer than a century")
        return v

    @model_validator(mode="after")
    def _counts(self) -> Criterion:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(f"max_count {self.max_count} is below min_count {self.min_count}")
        if self.kind == "exclusion" and (self.max_count is not None or self.min_count < 1):
            raise ValueError("an exclusion drops rows with at least min_count (>= 1) events")
        if self.min_count == 0 and self.max_count is None:
            raise ValueError("min_count 0 without max_count keeps every row: no criterion")
        return self

    def describe(self) -> str:
        """The criterion in words.

        >>> Criterion(name="x", concept_set="a10", window=(-365, -1), max_count=0,
        ...           min_count=0).describe()
        'no event of a10 in [-365, -1] days'
        """
        unit = "event" if self.count == "events" else "distinct day"
        where = f"of {self.concept_set} in [{self.window[0]}, {self.window[1]}] days"
        if self.kind == "exclusion":
            return f"excluded if at least {self.min_count} {unit}(s) {where}"
        if self.max_count == 0:
            return f"no {unit} {where}"
        if self.max_count is None:
            return f"at least {self.min_count} {unit}(s) {where}"
        return f"between {self.min_count} and {self.max_count} {unit}(s) {where}"


class CohortSpec(_Model):
    """A cohort (see the module docstring)."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    source: str = ""
    concept_sets: dict[str, ConceptSet] = Field(default_factory=dict)
    index: IndexSpec
    demographics: Demographics = Demographics()
    observation: Observation
    inclusion: tuple[Criterion, ...] = ()
    exclusion: tuple[Criterion, ...] = ()
    path: str = Field(default="", exclude=True)

    @field_validator("inclusion")
    @classmethod
    def _inclusion(cls, v: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        if any(c.kind != "inclusion" for c in v):
            raise ValueError("an inclusion criterion cannot say kind: exclusion")
        return v

    @field_validator("exclusion", mode="before")
    @classmethod
    def _exclusion(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return [{**c, "kind": "exclusion"} if isinstance(c, dict) else c for c in v]
        return v

    @model_validator(mode="after")
    def _references(self) -> CohortSpec:
        for name in self.concept_sets:
            if not isinstance(name, str) or not _valid_name(name):
                raise ValueError(f"concept set name {name!r} must match {_NAME}")
        refs = [("index.concept_set", self.index.concept_set)] + [
            (f"{c.kind}[{i}] {c.name!r}.concept_set", c.concept_set)
            for group in (self.inclusion, self.exclusion)
            for i, c in enumerate(group)
        ]
        for where, ref in refs:
            if ref is not None and ref not in self.concept_sets:
                known = ", ".join(self.concept_sets) or "none"
                raise ValueError(f"{where}: unknown concept set {ref!r} (defined: {known})")
        names = [c.name for c in self.criteria()]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"criteria names must be unique, repeated: {dup}")
        obs = self.observation
        if self.index.date is not None and not obs.study_start <= self.index.date <= obs.study_end:
            raise ValueError(
                f"index.date {self.index.date} is outside the study period "
                f"[{obs.study_start}, {obs.study_end}]"
            )
        span = (obs.study_end - obs.first_data_day).days
        for c in self.criteria():
            lo, hi = c.window
            if lo > span or hi < -span:
                raise ValueError(
                    f"{c.kind} {c.name!r}: window [{lo}, {hi}] lies outside the data "
                    f"({obs.first_data_day} to {obs.study_end}) for every index date"
                )
        if self.prior_days > (obs.study_end - obs.first_data_day).days:
            raise ValueError(
                f"observation: {self.prior_days} prior days from {obs.first_data_day} leave no "
                f"index date before the study end {obs.study_end}"
            )
        return self

    def criteria(self) -> tuple[Criterion, ...]:
        """Inclusion then exclusion criteria, in the order they are applied."""
        return (*self.inclusion, *self.exclusion)

    @property
    def prior_days(self) -> int:
        """Days of data required before index: ``observation.prior_days``, else the longest
        look-back of the criteria."""
        if self.observation.prior_days is not None:
            return self.observation.prior_days
        return max([0, *(-c.window[0] for c in self.criteria())])


class SetOperationSpec(_Model):
    """``union``, ``intersection`` or ``difference`` (the first cohort minus the persons of
    the others) of cohorts named by built-in name or path (relative to this file)."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    operation: Literal["union", "intersection", "difference"]
    of: tuple[str, ...] = Field(min_length=2)
    path: str = Field(default="", exclude=True)
    members: tuple[Any, ...] = Field(default=(), exclude=True)


Spec = CohortSpec | SetOperationSpec


def _valid_name(name: str) -> bool:
    import re

    return re.match(_NAME, name) is not None


def _where(err: Any) -> str:
    """``inclusion[1] 'washout'.window`` from a pydantic error location and the raw data."""
    parts: list[str] = []
    for x in err["loc"]:
        if isinstance(x, int) and parts:
            parts[-1] += f"[{x}]"
        else:
            parts.append(str(x))
    return ".".join(parts) or "<root>"


def _label_criteria(raw: dict[str, Any], where: str) -> str:
    """Add the criterion's name to ``inclusion[1]`` in an error location."""
    for group in ("inclusion", "exclusion"):
        items = raw.get(group)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            tag = f"{group}[{i}]"
            if where.startswith(tag) and isinstance(item, dict) and item.get("name"):
                return where.replace(tag, f"{tag} {item['name']!r}", 1)
    return where


def _fail(path: Path | str, where: str, msg: str) -> CohortSpecError:
    msg = msg.removeprefix("Value error, ")
    return CohortSpecError(f"cohort spec {path}: {where}: {msg}")


def parse_cohort(raw: Any, path: Path | str = "<dict>", *, _seen: tuple[str, ...] = ()) -> Spec:
    """Validate a parsed YAML mapping as a cohort or a set operation (members loaded)."""
    if not isinstance(raw, dict):
        raise CohortSpecError(f"cohort spec {path}: expected a mapping at top level")
    model: type[CohortSpec] | type[SetOperationSpec] = (
        SetOperationSpec if "operation" in raw else CohortSpec
    )
    try:
        spec = model.model_validate({**raw, "path": str(path)})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _label_criteria(raw, _where(err))
        raise _fail(path, where, str(err["msg"])) from exc
    if isinstance(spec, SetOperationSpec):
        base = Path(path).parent if str(path) != "<dict>" else Path.cwd()
        members = []
        for i, ref in enumerate(spec.of):
            if ref in (*_seen, spec.name):
                raise _fail(path, f"of[{i}]", f"cohort {ref!r} refers to itself")
            members.append(_load(ref, base, (*_seen, spec.name), path, f"of[{i}]"))
        spec = spec.model_copy(update={"members": tuple(members)})
    return spec


def _load(ref: str, base: Path, seen: tuple[str, ...], parent: Path | str, where: str) -> Spec:
    candidate = base / ref
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return _load_file(candidate, seen)
    if ref in builtin_cohorts():
        return _load_file(BUILTIN_DIR / f"{ref}.yaml", seen)
    raise _fail(
        parent,
        where,
        f"no cohort {ref!r}: neither a YAML file next to the spec nor a built-in cohort "
        f"({', '.join(builtin_cohorts())})",
    )


def _load_file(path: Path, seen: tuple[str, ...] = ()) -> Spec:
    raw = read_yaml_mapping(path, "cohort spec", CohortSpecError)
    return parse_cohort(raw, path, _seen=seen)


@cache
def builtin_cohorts() -> tuple[str, ...]:
    """Names of the built-in cohort specs (``specs/*.yaml``)."""
    return tuple(sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml")))


def load_cohort(path_or_name: str | Path) -> Spec:
    """A cohort spec: the path of a YAML file, or the name of a built-in spec.

    >>> load_cohort("population_65_plus").index.date
    datetime.date(2019, 1, 1)
    >>> load_cohort("no_such_cohort")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sndslab.cohorts._spec.CohortSpecError: no cohort 'no_such_cohort': neither a YAML file ...
    """
    text = str(path_or_name)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise CohortSpecError(f"cohort spec {path}: no such file")
        return _load_file(path)
    if text in builtin_cohorts():
        return _load_file(BUILTIN_DIR / f"{text}.yaml")
    raise CohortSpecError(
        f"no cohort {text!r}: neither a YAML file nor a built-in cohort "
        f"({', '.join(builtin_cohorts())})"
    )
