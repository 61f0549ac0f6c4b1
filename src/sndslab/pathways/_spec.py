"""Declarative care-pathway specs (``specs/*.yaml``) and their pydantic twin.

A pathway follows the persons of an *index cohort* (the first event matching ``index`` of each
person: a hip-fracture MCO stay of a person 65+, a stroke stay) through consecutive *windows*
counted in days from the index stay's discharge (``anchor: end``) or admission (``anchor:
start``). In each window a person is in exactly one *state*, the first of ``states`` (their
order is the precedence) that applies:

- ``kind: death``: died on or before the window's last day (absorbing);
- ``kind: events``: an event of ``categories`` with a code of ``codes`` (minus ``exclude``)
  overlapping the window (``[start, end]`` of a stay, the day of a visit or a dispensing);
  ``exclude_index_stay`` leaves the index stay itself out (a readmission state);
- ``kind: lost``: no event at all from the window's first day to the end of the data (lost to
  follow-up: left the scheme, or no care at all);
- ``kind: home``: none of the above (alive, at home, without the listed care).

>>> spec = load_pathways(["hip_fracture_65"])[0]
>>> spec.index.min_age, [w.name for w in spec.windows]
(65, ['d0_30', 'd31_90', 'd91_365'])
>>> spec.state_names()[:3]
['death', 'mco', 'ssr']
>>> spec.label("ssr", "fr")
'SSR (soins médicaux et de réadaptation)'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sndslab._yaml import read_yaml_mapping
from sndslab.errors import SndslabError
from sndslab.events import Category
from sndslab.indicators import CodeSet

__all__ = [
    "OTHER",
    "SPECS_DIR",
    "IndexEvent",
    "Label",
    "PathwaySpec",
    "PathwaySpecError",
    "State",
    "Window",
    "load_pathways",
]

SPECS_DIR = Path(__file__).parent / "specs"
#: State code of the branches merged before the gate (fewer persons than the threshold).
OTHER = "other"
OTHER_LABEL = {"fr": "Autres parcours", "en": "Other pathways"}
INDEX_LABEL = {"fr": "Séjour index", "en": "Index stay"}


class PathwaySpecError(SndslabError):
    """A pathway spec cannot be loaded; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Model):
    """A text in French (default of the outputs) and English."""

    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)


def _codes(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Validate codes as an indicator code set does (``VOCAB//value`` or ``VOCAB//prefix*``)."""
    if values:
        CodeSet(name="codes", description=where, source="pathway spec", codes=values)
    return values


class IndexEvent(_Model):
    """The index event: the first event of the person matching it, in persons aged
    ``min_age`` (age reached in the year of the event) or more."""

    label: Label
    categories: tuple[Category, ...] = Field(min_length=1)
    codes: tuple[str, ...] = Field(min_length=1)
    modifiers: tuple[str, ...] = ()
    min_age: int = Field(default=0, ge=0, le=120)

    @field_validator("codes")
    @classmethod
    def _check(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _codes(v, "index")

    @field_validator("modifiers")
    @classmethod
    def _modifiers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any("'" in m for m in v):
            raise ValueError("no quote in a modifier")
        return v


class Window(_Model):
    """Days ``from_day``..``to_day`` (inclusive) after the anchor date."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Label
    from_day: int = Field(ge=0)
    to_day: int = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.to_day < self.from_day:
            raise ValueError(f"window {self.name}: to_day {self.to_day} < from_day")
        return self


class State(_Model):
    """One care state (see the module docstring for the kinds)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: Label
    kind: Literal["death", "events", "lost", "home"]
    categories: tuple[Category, ...] = ()
    codes: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_index_stay: bool = False

    @model_validator(mode="after")
    def _events(self) -> State:
        if self.kind == "events":
            if not self.categories or not self.codes:
                raise ValueError(f"state {self.name}: kind events needs categories and codes")
            _codes(self.codes, self.name)
            _codes(self.exclude, self.name)
        elif self.categories or self.codes or self.exclude or self.exclude_index_stay:
            raise ValueError(f"state {self.name}: only kind events takes categories and codes")
        if self.name in (OTHER, "index", "all"):
            raise ValueError(f"state name {self.name!r} is reserved")
        return self


class PathwaySpec(_Model):
    """A care pathway: index event, windows, states in order of precedence."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Label
    description: Label
    source: str = Field(min_length=1)
    index: IndexEvent
    anchor: Literal["start", "end"] = "end"
    windows: tuple[Window, ...] = Field(min_length=1, max_length=8)
    states: tuple[State, ...] = Field(min_length=2)
    synthetic_note: str = ""
    path: str = ""

    @model_validator(mode="after")
    def _check(self) -> PathwaySpec:
        for a, b in zip(self.windows, self.windows[1:], strict=False):
            if b.from_day <= a.to_day:
                raise ValueError(f"window {b.name} starts on or before the end of {a.name}")
        names = [w.name for w in self.windows]
        if len(set(names)) != len(names):
            raise ValueError("window names must be unique")
        states = self.state_names()
        if len(set(states)) != len(states):
            raise ValueError("state names must be unique")
        for kind in ("death", "lost", "home"):
            if sum(s.kind == kind for s in self.states) != 1:
                raise ValueError(f"exactly one state of kind {kind} is needed")
        if [s.kind for s in self.states][-2:] != ["lost", "home"]:
            raise ValueError("the last two states must be of kinds lost then home (fallbacks)")
        return self

    def state_names(self) -> list[str]:
        return [s.name for s in self.states]

    def label(self, state: str, lang: Literal["fr", "en"] = "fr") -> str:
        """The label of a state code (``other`` and ``index`` included)."""
        if state == OTHER:
            return OTHER_LABEL[lang]
        if state == "index":
            return str(getattr(self.index.label, lang))
        for s in self.states:
            if s.name == state:
                return str(getattr(s.label, lang))
        raise PathwaySpecError(f"pathway {self.name}: unknown state {state!r}")

    def window_label(self, step: int, lang: Literal["fr", "en"] = "fr") -> str:
        """The label of window ``step`` (0: the index stay)."""
        if step == 0:
            return INDEX_LABEL[lang]
        return str(getattr(self.windows[step - 1].label, lang))


def _load_file(path: Path) -> PathwaySpec:
    data = read_yaml_mapping(path, "pathway spec", PathwaySpecError)
    try:
        spec = PathwaySpec.model_validate({**data, "path": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise PathwaySpecError(f"{path}: {loc}: {first['msg']}") from exc
    if spec.name != path.stem:
        raise PathwaySpecError(f"{path}: name {spec.name!r} differs from the file name")
    return spec


def load_pathways(
    names: Sequence[str] | None = None, *, paths: Sequence[str | Path] | None = None
) -> list[PathwaySpec]:
    """The shipped pathway specs (all, or ``names``), or the spec files ``paths``.

    >>> [s.name for s in load_pathways()]
    ['hip_fracture_65', 'stroke']
    """
    if paths:
        return [_load_file(Path(p)) for p in paths]
    specs = {p.stem: _load_file(p) for p in sorted(SPECS_DIR.glob("*.yaml"))}
    if names is None:
        return list(specs.values())
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise PathwaySpecError(
            f"unknown pathway(s) {', '.join(unknown)} (known: {', '.join(specs)})"
        )
    return [specs[n] for n in names]
