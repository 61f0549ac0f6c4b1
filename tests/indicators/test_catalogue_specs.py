"""The catalogue's specs: every built-in spec loads, the catalogue covers what the issue asks,
and a bad spec is one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sndslab.indicators import IndicatorSpecError, code_sets, load_code_sets, load_indicators
from sndslab.indicators._spec import BUILTIN_DIR, EventsNumerator

GOOD = {
    "name": "toy",
    "family": "pathology",
    "title": {"fr": "Jouet", "en": "Toy"},
    "description": {"fr": "Un jouet.", "en": "A toy."},
    "source": "nowhere, 2024",
    "unit": 100,
    "time": {"unit": "year"},
    "strata": ["year", "region", "sex"],
    "numerator": {
        "source": "events",
        "count": "persons",
        "any_of": [{"code_set": "diabetes_drugs", "categories": ["dispensing"], "min_dates": 3}],
    },
}


def _write(tmp_path: Path, spec: dict, name: str = "toy") -> Path:
    folder = tmp_path / "specs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    return folder


def _load(tmp_path: Path, **changes: object) -> list:
    spec = {**GOOD, **changes}
    return load_indicators(builtin=False, extra_dirs=[_write(tmp_path, spec)])


def test_builtin_catalogue_loads_and_covers_the_issue() -> None:
    specs = load_indicators()
    names = {s.name for s in specs}
    assert len(specs) == len(list(BUILTIN_DIR.glob("*.yaml"))) >= 40
    pathologies = [s for s in specs if s.family == "pathology"]
    assert len(pathologies) >= 15
    for s in pathologies:  # each cites the published algorithm it follows, and has amounts
        assert "cartographie" in s.source.lower(), s.name
        assert isinstance(s.numerator, EventsNumerator) and s.numerator.expenditure
    assert {
        "diabetes", "coronary_disease", "heart_failure", "stroke", "chronic_respiratory",
        "cancer_breast", "cancer_prostate", "cancer_colorectal", "cancer_lung", "dementia",
        "psychotic_disorders", "chronic_kidney_disease", "parkinson", "epilepsy", "hiv",
    } <= names  # fmt: skip
    assert {
        "gp_visits", "specialist_visits", "nurse_acts", "physio_acts", "drug_dispensings",
        "biology_tests", "emergency_visits", "density_gp", "density_specialists",
        "hospitalisation_rate", "rehospitalisation_30d", "mortality", "breast_screening_50_74",
        "influenza_vaccination_65", "sglt2_uptake_monthly",
    } <= names  # fmt: skip
    for s in specs:
        assert s.title.fr and s.title.en and s.description.fr and s.description.en and s.source


def test_every_code_set_is_used_and_cited() -> None:
    used = {name for s in load_indicators() for _, name in s.code_set_names()}
    sets = code_sets()
    assert used == set(sets), f"unused code sets: {sorted(set(sets) - used)}"
    assert all(cs.source and cs.description for cs in sets.values())


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {
                "numerator": {
                    **GOOD["numerator"],
                    "any_of": [{"code_set": "unicorns", "categories": ["dispensing"]}],
                }
            },  # type: ignore[dict-item]
            "numerator.any_of.0.code_set",
            "unknown code set 'unicorns'",
        ),
        ({"strata": ["year", "canton"]}, "strata", "unknown stratum 'canton'"),
        ({"strata": ["region", "sex"]}, "strata", "exactly one time stratum"),
        (
            {
                "numerator": {
                    **GOOD["numerator"],
                    "any_of": [{"code_set": "diabetes_drugs", "categories": ["potion"]}],
                }
            },  # type: ignore[dict-item]
            "numerator.any_of.0.categories.0",
            "Input should be",
        ),
        (
            {
                "numerator": {
                    **GOOD["numerator"],
                    "any_of": [
                        {
                            "code_set": "diabetes_icd10",
                            "categories": ["diagnosis"],
                            "sources": ["mco_stayz"],
                        }
                    ],
                }
            },  # type: ignore[dict-item]
            "numerator.any_of.0.sources",
            "unknown int table 'mco_stayz'",
        ),
        (
            {
                "strata": ["year"],
                "numerator": {"source": "practitioners", "table": "int.practitionerz"},
            },
            "numerator.table",
            "unknown lake table 'int.practitionerz'",
        ),
        (
            {
                "strata": ["year"],
                "numerator": {"source": "practitioners", "specialty_column": "PFS_SPE_XXX"},
            },
            "numerator.specialty_column",
            "has no column 'PFS_SPE_XXX'",
        ),
        (
            {"strata": ["year", "sex"], "numerator": {"source": "practitioners"}},
            "strata",
            "stratum 'sex' is not defined for practitioners",
        ),
        ({"denominator": {"table": "events.nobody"}}, "denominator.table", "unknown lake table"),
        ({"unit": 7}, "unit", "Input should be"),
        ({"colour": "blue"}, "colour", "Extra inputs"),
        (
            {"denominator": {"kind": "index_events"}},
            "denominator.kind",
            "index_events goes with a readmissions numerator only",
        ),
    ],
)
def test_bad_spec_is_one_line_naming_file_and_field(
    tmp_path: Path, changes: dict, field: str, message: str
) -> None:
    with pytest.raises(IndicatorSpecError) as info:
        _load(tmp_path, **changes)
    text = str(info.value)
    assert "\n" not in text
    assert str(tmp_path / "specs" / "toy.yaml") in text
    assert f"field {field!r}" in text
    assert message in text


def test_good_spec_loads(tmp_path: Path) -> None:
    (spec,) = _load(tmp_path)
    assert spec.geo_levels == ("france", "region") and spec.age_levels == ("all",)


def test_name_must_match_file_and_be_unique(tmp_path: Path) -> None:
    folder = _write(tmp_path, {**GOOD, "name": "other"})
    with pytest.raises(IndicatorSpecError, match=r"field 'name'.*differs from the file name"):
        load_indicators(builtin=False, extra_dirs=[folder])
    with pytest.raises(IndicatorSpecError, match="unknown indicator"):
        load_indicators(names=["no_such_indicator"])
    dup = _write(tmp_path / "d", {**GOOD, "name": "diabetes"}, name="diabetes")
    with pytest.raises(IndicatorSpecError, match="duplicate indicator 'diabetes'"):
        load_indicators(extra_dirs=[dup])


def test_bad_code_set_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sets.yaml"
    for body, field, message in [
        (["FOO//A10*"], "x.codes", "unknown vocabulary 'FOO'"),
        (["ATC//A*10"], "x.codes", "only at the end"),
        (["A10"], "x.codes", "is not VOCAB//value"),
        (None, "x.source", "Field required"),
    ]:
        body = (
            {"x": {"description": "d", "source": "s", "codes": body}}
            if body is not None
            else {"x": {"description": "d", "codes": ["ATC//A10*"]}}
        )
        path.write_text(yaml.safe_dump({"code_sets": body}))
        with pytest.raises(IndicatorSpecError) as info:
            load_code_sets(path)
        assert f"code sets {path}: field '{field}" in str(info.value), str(info.value)
        assert message in str(info.value)
    path.write_text("code_sets: [")
    with pytest.raises(IndicatorSpecError, match="invalid YAML"):
        load_code_sets(path)
