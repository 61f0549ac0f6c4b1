"""``vocabularies.yaml``: in step with the ``Vocab`` enum, the registry and OMOP's domains; load
errors name the file and the field."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from sndslab.events import Vocab
from sndslab.events._vocabularies import (
    OMOP_DOMAIN_IDS,
    VOCABULARIES_FILE,
    VocabularyError,
    load_vocabularies,
    vocabularies,
)
from sndslab.registry import get_table

#: Column names in a parents expression (SNDS columns all have an underscore; literals removed).
_COLUMN = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")


def test_vocab_enum_matches_the_yaml() -> None:
    vocabs = vocabularies()
    event_vocabs = [n for n, v in vocabs.items() if not v.parent_only]
    assert event_vocabs == [v.value for v in Vocab]  # same names, same order
    assert {n for n, v in vocabs.items() if v.parent_only} == {"ICD10_CHAPTER", "GHM_CMD"}


def test_referentials_exist_in_the_registry() -> None:
    for name, v in vocabularies().items():
        r = v.referential
        if r is None:
            continue
        table = get_table(r.table)  # raises UnknownTableError
        columns = {c.name: c for c in table.columns}
        used = [r.code, *([r.label] if r.label else [])]
        used += _COLUMN.findall(re.sub(r"'[^']*'", "''", r.parents or ""))
        missing = [c for c in used if c not in columns]
        assert not missing, f"{name}: {r.table} has no column(s) {missing}"
        is_text = columns[r.code].type == "string"
        assert r.numeric_code is not is_text, f"{name}: numeric_code of {r.table}.{r.code}"


def test_omop_domains_are_omop_domain_ids() -> None:
    assert {"Condition", "Drug", "Procedure", "Measurement", "Visit"} <= set(OMOP_DOMAIN_IDS)
    for name, v in vocabularies().items():
        assert v.omop_domain in OMOP_DOMAIN_IDS, name


def test_icd10_chapter_ranges_are_disjoint_and_cover_their_chapters() -> None:
    ranges = sorted(vocabularies()["ICD10_CHAPTER"].ranges.values())
    assert len(ranges) == 22
    for (_, last), (first, _) in pairwise(ranges):
        assert last < first


def test_every_vocabulary_has_a_source_of_descriptions_or_says_why() -> None:
    # a vocabulary is described by a referential label, fixed code labels, or neither (CSARR:
    # no nomenclature in the lake; ALD: code-list checks only; parent-only pseudo-vocabularies)
    described = {
        n for n, v in vocabularies().items() if v.codes or (v.referential and v.referential.label)
    }
    assert set(vocabularies()) - described == {"CSARR", "ALD", "ICD10_CHAPTER", "GHM_CMD"}


def _edit(tmp_path: Path, edit: object) -> Path:
    raw = yaml.safe_load(VOCABULARIES_FILE.read_text(encoding="utf-8"))
    edit(raw)  # type: ignore[operator]
    path = tmp_path / "vocabularies.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _set(i: int, key: str, value: object) -> object:
    return lambda raw: raw["vocabularies"][i].__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_set(0, "omop_domain", "Drugs"), "vocabularies[0] (ATC).omop_domain"),
        (_set(0, "colour", "red"), "vocabularies[0] (ATC).colour"),
        (_set(3, "name", "icd10"), "vocabularies[3] (icd10).name"),
        (_set(11, "referential", {"table": "X_R", "code": "X_COD"}), "vocabularies[11] (ACE)"),
        (
            _set(1, "referential", {"table": "IR_PHA_R", "label": "PHA_MED_NOM"}),
            "vocabularies[1] (CIP13).referential.code",
        ),
        (
            _set(13, "ranges", {"I": ["B99", "A00"]}),
            "vocabularies[13] (ICD10_CHAPTER)",
        ),
        (lambda raw: raw["vocabularies"].append(raw["vocabularies"][0]), "vocabularies[15].name"),
        (lambda raw: raw.__setitem__("vocabularies", []), "vocabularies"),
    ],
)
def test_load_errors_name_the_file_and_field(tmp_path: Path, edit: object, field: str) -> None:
    path = _edit(tmp_path, edit)
    with pytest.raises(VocabularyError) as err:
        load_vocabularies(path)
    msg = str(err.value)
    assert str(path) in msg and f"field '{field}'" in msg, msg


def test_unreadable_or_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="cannot be read"):
        load_vocabularies(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("vocabularies: [\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(str(bad))):
        load_vocabularies(bad)
    bad.write_text("- a\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match="mapping at top level"):
        load_vocabularies(bad)


def test_builtin_file_loads_once() -> None:
    assert vocabularies() is vocabularies()
    assert list(vocabularies()) == list(load_vocabularies())
