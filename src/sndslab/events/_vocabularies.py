"""Code vocabularies (``vocabularies.yaml``) and their pydantic twin.

One entry per vocabulary (the ``VOCAB`` of ``VOCAB//value``, plus the parent-only
pseudo-vocabularies ``ICD10_CHAPTER`` and ``GHM_CMD``): a label, its referential (registry
nomenclature table, code, label and parents columns) or fixed code labels, and its OMOP domain.
:mod:`sndslab.events._spec` (code-list checks), :mod:`sndslab.events._codes` (the codes table)
and :mod:`sndslab.events._omop` (concept domains) read it; the ``Vocab`` enum of
:mod:`sndslab.events._schema` lists the non-parent-only entries (checked by a test).

>>> vocabularies()["ATC"].referential.table
'IR_PHA_R'
>>> vocabularies()["ICD10_CHAPTER"].omop_domain
'Condition'

Every load failure is a :class:`VocabularyError` naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sndslab.errors import SndslabError

__all__ = [
    "OMOP_DOMAIN_IDS",
    "VOCABULARIES_FILE",
    "Referential",
    "Vocabulary",
    "VocabularyError",
    "load_vocabularies",
    "vocabularies",
]

VOCABULARIES_FILE = Path(__file__).parent / "vocabularies.yaml"

OmopDomain = Literal[
    "Condition",
    "Cost",
    "Device",
    "Drug",
    "Episode",
    "Ethnicity",
    "Gender",
    "Measurement",
    "Metadata",
    "Note",
    "Observation",
    "Payer",
    "Procedure",
    "Provider",
    "Race",
    "Route",
    "Specimen",
    "Type Concept",
    "Unit",
    "Visit",
]

#: OMOP CDM 5.4 domain ids a local concept may take (``domain_id`` values of Athena's DOMAIN
#: table for clinical and metadata concepts).
OMOP_DOMAIN_IDS: tuple[str, ...] = get_args(OmopDomain)

_COLUMN = r"^[A-Z][A-Z0-9_]*$"
_CATEGORY = re.compile(r"^[A-Z][0-9]{2}$")


class VocabularyError(SndslabError):
    """``vocabularies.yaml`` cannot be loaded; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Referential(_Model):
    """The nomenclature of a vocabulary: a registry table (``lake/stg/<table>``) and columns."""

    table: str = Field(pattern=_COLUMN)
    code: str = Field(pattern=_COLUMN)
    #: ``code`` is not a string in the registry: code lists compare ``CAST(code AS VARCHAR)``.
    numeric_code: bool = False
    #: label column; ``None``: the referential only checks code lists (no description).
    label: str | None = Field(default=None, pattern=_COLUMN)
    #: SQL expression of the ``VARCHAR[]`` parent codes (``None``: no parents).
    parents: str | None = None

    @property
    def code_sql(self) -> str:
        """The code column as a string expression (what code lists are compared with)."""
        return f"CAST({self.code} AS VARCHAR)" if self.numeric_code else self.code


class Vocabulary(_Model):
    """One vocabulary of ``vocabularies.yaml`` (see the comments at the top of that file)."""

    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    label: str = Field(min_length=1)
    omop_domain: OmopDomain
    parent_only: bool = False
    referential: Referential | None = None
    codes: dict[str, str] = {}
    ranges: dict[str, tuple[str, str]] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Vocabulary:
        if self.referential is not None and self.codes:
            raise ValueError("give either 'referential' or 'codes', not both")
        for code, (first, last) in self.ranges.items():
            if not (_CATEGORY.match(first) and _CATEGORY.match(last) and first <= last):
                raise ValueError(
                    f"range {code!r}: expected [first, last] 3-character categories, "
                    f"got [{first!r}, {last!r}]"
                )
        return self


class _File(_Model):
    vocabularies: tuple[Vocabulary, ...] = Field(min_length=1)


def _field(loc: tuple[int | str, ...], raw: object) -> str:
    """``vocabularies[3] (ICD10).referential.code`` from a pydantic error location."""
    parts: list[str] = []
    for i, x in enumerate(loc):
        if isinstance(x, int) and i > 0:
            parts[-1] += f"[{x}]"
            if loc[i - 1] == "vocabularies" and isinstance(raw, dict):
                entries = raw.get("vocabularies")
                if isinstance(entries, list) and isinstance(entries[x], dict):
                    name = entries[x].get("name")
                    if name:
                        parts[-1] += f" ({name})"
        else:
            parts.append(str(x))
    return ".".join(parts) or "<root>"


def load_vocabularies(path: Path | str = VOCABULARIES_FILE) -> dict[str, Vocabulary]:
    """Parse and validate a vocabularies file: name → :class:`Vocabulary`, in file order.

    Raises :class:`VocabularyError` naming ``path`` and the offending field.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VocabularyError(f"vocabularies file {path}: cannot be read: {exc}") from exc
    if not isinstance(raw, dict):
        raise VocabularyError(f"vocabularies file {path}: expected a mapping at top level")
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field(tuple(err["loc"]), raw)
        raise VocabularyError(f"vocabularies file {path}: field {field!r}: {err['msg']}") from exc
    out: dict[str, Vocabulary] = {}
    for i, v in enumerate(parsed.vocabularies):
        if v.name in out:
            raise VocabularyError(
                f"vocabularies file {path}: field 'vocabularies[{i}].name': "
                f"duplicate vocabulary {v.name!r}"
            )
        out[v.name] = v
    return out


@cache
def vocabularies() -> Mapping[str, Vocabulary]:
    """The built-in vocabularies (``vocabularies.yaml``), loaded once: name → vocabulary."""
    return MappingProxyType(load_vocabularies(VOCABULARIES_FILE))
