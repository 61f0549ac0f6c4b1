"""Study files: a drug-safety screening (population, outcome, exposures, SCCS, ConvSCCS) as
YAML with a pydantic twin, validated at load time.

Every failure is one :class:`StudySpecError` line naming the file and the offending part
(``outcome.diagnoses``, ``screening.lags``…). The shipped falls study is
:data:`FALLS_STUDY`.

>>> spec = load_study(FALLS_STUDY)
>>> spec.name, spec.population.min_age, spec.screening.bucket_days
('falls_65plus', 65, 7)
>>> spec.screening.lag_labels()[:2]
['-4w', '-3w']
>>> StudySpec.parse({"name": "x", "period": {"start": "2020-01-01", "end": "2019-01-01"},
...     "outcome": {"name": "o", "diagnoses": ["ICD10//S72*"]}})
Traceback (most recent call last):
  ...
sndslab.signals._spec.StudySpecError: study x: period: end 2019-01-01 is before start 2020-01-01
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sndslab.cohorts._concepts import entry_sql
from sndslab.errors import SndslabError

__all__ = [
    "FALLS_STUDY",
    "DurationSpec",
    "ExposureSpec",
    "OutcomeSpec",
    "PeriodSpec",
    "PopulationSpec",
    "RiskWindow",
    "SccsSpec",
    "ScreeningSpec",
    "StudySpec",
    "StudySpecError",
    "load_study",
]

#: The shipped falls study (people aged 65+, fall-related injuries, every ATC class).
FALLS_STUDY = Path(__file__).parent / "studies" / "falls.yaml"

_VOCABS = ("ATC", "ICD10", "CCAM", "CIP13")


class StudySpecError(SndslabError):
    """A study file cannot be used as written; the message names the file and the part."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_code(entry: str, vocabs: tuple[str, ...] = _VOCABS) -> str:
    vocab, sep, value = entry.partition("//")
    if not sep or not value:
        raise ValueError(f"code {entry!r} is not VOCAB//value or VOCAB//prefix*")
    if vocab not in vocabs:
        raise ValueError(f"code {entry!r}: vocabulary {vocab!r} not allowed here ({vocabs})")
    if "*" in value[:-1] or "'" in value or "%" in value or "_" in value:
        raise ValueError(f"code {entry!r}: '*' only at the end, no quote, '%' or '_'")
    return entry


def code_predicate(column: str, codes: tuple[str, ...]) -> str:
    """SQL predicate matching ``column`` against ``VOCAB//value`` / ``VOCAB//prefix*`` codes.

    >>> code_predicate("code", ("ATC//N05*", "ICD10//S720"))
    "(starts_with(code, 'ATC//N05') OR code = 'ICD10//S720')"
    """
    return entry_sql(codes, column)


class PeriodSpec(_Model):
    """Study period (both days included)."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _order(self) -> PeriodSpec:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class PopulationSpec(_Model):
    """The study population. By default the built-in one: persons of ``events.patients``
    observed from the later of the study start and their ``min_age``-th birthday to the earlier
    of death and the study end (SCALPEL3's follow-up end bug avoided: death always ends
    observation). With ``cohort`` (a cohort spec of :mod:`sndslab.cohorts`: the name of a
    shipped one such as ``population_65_plus``, or a path), the persons of that cohort, each
    observed over its cohort observation (loss to follow-up included); ``min_age`` is then not
    used."""

    min_age: int = Field(default=65, ge=0, le=120)
    cohort: str | None = None


class OutcomeSpec(_Model):
    """Outcome events: MCO stays whose main diagnosis (DP) is one of ``diagnoses`` and that have
    no associated diagnosis (DAS) among ``exclude_das`` (non-fall injuries, pathological
    fractures), plus stays with an act of ``acts``, plus emergency passages (ATU) when
    ``emergency``. An event starting within ``episode_gap_days`` after the end (discharge) of
    an earlier outcome event of the person belongs to the same episode (transfers,
    readmissions with the same main diagnosis: SCALPEL3's follow-up-stay exclusion) and is
    not counted."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    diagnoses: tuple[str, ...] = Field(min_length=1)
    exclude_das: tuple[str, ...] = ()
    acts: tuple[str, ...] = ()
    emergency: bool = False
    episode_gap_days: int = Field(default=30, ge=0, le=365)

    @field_validator("diagnoses", "exclude_das")
    @classmethod
    def _icd(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_code(c, ("ICD10",)) for c in v)

    @field_validator("acts")
    @classmethod
    def _ccam(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_code(c, ("CCAM",)) for c in v)


class DurationSpec(_Model):
    """Days covered by one pack: ``by_atc`` (longest matching ATC prefix) or ``default_days``;
    ``max_packs`` caps the boxes of one dispensing line (larger quantities are data errors,
    SCALPEL3's ``maxBoxQuantity``)."""

    default_days: int = Field(default=30, ge=1, le=365)
    by_atc: dict[str, int] = Field(default_factory=dict)
    max_packs: int = Field(default=10, ge=1, le=100)

    @field_validator("by_atc")
    @classmethod
    def _prefixes(cls, v: dict[str, int]) -> dict[str, int]:
        for k, days in v.items():
            if not k or not k[0].isalpha() or "'" in k or len(k) > 7:
                raise ValueError(f"{k!r} is not an ATC prefix")
            if not 1 <= days <= 365:
                raise ValueError(f"{k}: {days} days per pack (1-365)")
        return v


class ExposureSpec(_Model):
    """Purchase-based exposures (SCALPEL3's exposure transformer semantics, its known bugs
    avoided: see :mod:`sndslab.signals._exposures`).

    ``atc``: drugs screened (``ATC//*`` every drug); a purchase covers ``[day + start_delay,
    day + packs × days per pack − 1 + end_delay]``; purchases of one drug less than
    ``grace_days`` apart after coverage make one era; an era counts only from its
    ``min_purchases``-th purchase within ``purchases_window_days``.
    """

    atc: tuple[str, ...] = ("ATC//*",)
    duration: DurationSpec = DurationSpec()
    start_delay: int = Field(default=0, ge=0, le=365)
    end_delay: int = Field(default=0, ge=0, le=365)
    grace_days: int = Field(default=0, ge=0, le=365)
    min_purchases: int = Field(default=1, ge=1, le=20)
    purchases_window_days: int = Field(default=365, ge=1, le=3650)

    @field_validator("atc")
    @classmethod
    def _atc(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one ATC code or prefix")
        return tuple(_check_code(c, ("ATC",)) for c in v)


class RiskWindow(_Model):
    """A risk window relative to the exposure era: days ``start``..``end`` after its first day
    (``end`` null: to the era's last day)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_+\-]+$")
    start: int = Field(ge=0, le=3650)
    end: int | None = Field(default=None, ge=0, le=3650)

    @model_validator(mode="after")
    def _order(self) -> RiskWindow:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"risk window {self.name}: end {self.end} before start {self.start}")
        return self


class SccsSpec(_Model):
    """The standard SCCS of one drug: risk windows, a pre-exposure window of
    ``pre_exposure_days`` before each era (event-dependent exposure), age groups (lower bounds,
    years) and a season term (``month``, ``quarter`` or ``none``)."""

    risk_windows: tuple[RiskWindow, ...] = (RiskWindow(name="exposed", start=0),)
    pre_exposure_days: int = Field(default=30, ge=0, le=365)
    age_groups: tuple[int, ...] = (65, 70, 75, 80, 85, 90)
    season: Literal["month", "quarter", "none"] = "quarter"

    @model_validator(mode="after")
    def _check(self) -> SccsSpec:
        if not self.risk_windows:
            raise ValueError("risk_windows: at least one window")
        names = [w.name for w in self.risk_windows]
        if len(set(names)) != len(names):
            raise ValueError(f"risk_windows: duplicate names {names}")
        ws = sorted(self.risk_windows, key=lambda w: w.start)
        for a, b in itertools.pairwise(ws):
            if a.end is None or a.end >= b.start:
                raise ValueError(f"risk_windows: {a.name} and {b.name} overlap")
        if list(self.age_groups) != sorted(set(self.age_groups)):
            raise ValueError("age_groups: strictly increasing lower bounds")
        return self


class ScreeningSpec(_Model):
    """ConvSCCS screening of every drug (Morel et al., Biostatistics 2020): observation cut in
    buckets of ``bucket_days``; each purchase acts through ``lags`` buckets from the bucket of
    the purchase and ``pre_lags`` buckets before it (pre-exposure, absorbs event-dependent
    exposure); a quadratic penalty ``smoothness`` on differences of successive lag
    coefficients and ``ridge`` on their size; drugs with fewer than ``min_exposed_cases``
    exposed cases are not screened; ``windows`` group lags for the per-drug tests (BH at
    ``fdr``). ``purchase_day``: whether the day of a purchase counts before it (default: an
    event and a purchase the same day are most often the event causing the purchase, e.g. a
    drug dispensed at discharge) or in lag 0."""

    bucket_days: int = Field(default=7, ge=1, le=31)
    lags: int = Field(default=13, ge=1, le=60)
    pre_lags: int = Field(default=4, ge=0, le=26)
    smoothness: float = Field(default=2.0, ge=0)
    ridge: float = Field(default=0.1, ge=0)
    min_exposed_cases: int = Field(default=20, ge=1)
    fdr: float = Field(default=0.1, gt=0, lt=1)
    windows: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {"early": (0, 4), "late": (5, 12)}
    )
    age_adjustment: bool = True
    season_adjustment: bool = True
    purchase_day: Literal["pre_exposure", "exposed"] = "pre_exposure"

    @model_validator(mode="after")
    def _check(self) -> ScreeningSpec:
        if not self.windows:
            raise ValueError("windows: at least one lag window")
        for name, (a, b) in self.windows.items():
            if not 0 <= a <= b < self.lags:
                raise ValueError(
                    f"windows.{name}: lags {a}..{b} outside 0..{self.lags - 1} (lags = "
                    f"{self.lags} buckets)"
                )
        return self

    def lag_labels(self) -> list[str]:
        """One label per lag coefficient, pre-exposure lags first (``-4w`` … ``12w`` for
        weekly buckets, ``-2b`` … for other bucket sizes)."""
        unit = "w" if self.bucket_days == 7 else "b"
        return [f"{k}{unit}" for k in range(-self.pre_lags, self.lags)]


class StudySpec(_Model):
    """A screening study (see the module docstring and docs/signals.md)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    source: str = ""
    period: PeriodSpec
    population: PopulationSpec = PopulationSpec()
    outcome: OutcomeSpec
    exposures: ExposureSpec = ExposureSpec()
    sccs: SccsSpec = SccsSpec()
    screening: ScreeningSpec = ScreeningSpec()

    @classmethod
    def parse(cls, data: Any, where: str | None = None) -> StudySpec:
        """Validate ``data``; any error becomes one :class:`StudySpecError` line."""
        label = where or f"study {data.get('name', '?') if isinstance(data, dict) else '?'}"
        if not isinstance(data, dict):
            raise StudySpecError(f"{label}: a study file is a YAML mapping")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise StudySpecError(f"{label}: {loc}: {msg}") from None


def load_study(path: str | Path) -> StudySpec:
    """Load and validate a study file."""
    p = Path(path)
    if not p.is_file():
        raise StudySpecError(f"study file {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text("utf-8"))
    except yaml.YAMLError as e:
        raise StudySpecError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    return StudySpec.parse(data, where=str(p))
