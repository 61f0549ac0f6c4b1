"""Cohort specs: the built-in ones load and describe themselves; every bad input is one
``CohortSpecError`` line naming the file and the offending part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import yaml
from hypothesis import given

from sndslab.cohorts import (
    CohortSpec,
    CohortSpecError,
    Criterion,
    SetOperationSpec,
    builtin_cohorts,
    describe,
    load_any,
    load_cohort,
    load_comparison,
)

BASE: dict[str, Any] = {
    "name": "toy",
    "concept_sets": {"benzo": {"codes": ["ATC//N05BA*"], "categories": ["dispensing"]}},
    "index": {"concept_set": "benzo"},
    "observation": {"study_start": "2019-01-01", "study_end": "2020-12-31"},
}


def _write(tmp_path: Path, body: dict[str, Any], name: str = "toy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def _with(**changes: Any) -> dict[str, Any]:
    body = {**BASE}
    body.update(changes)
    return body


def test_builtin_specs_load_and_describe() -> None:
    names = builtin_cohorts()
    assert {"population_65_plus", "hip_fracture_65_plus", "new_users_benzodiazepines",
            "new_users_zdrugs", "hip_fracture_dp"} <= set(names)  # fmt: skip
    for name in [*names, "benzodiazepines_vs_zdrugs"]:
        spec = load_any(name)
        text = describe(spec)
        assert text.startswith(("# Cohort", "# Comparison")), name
        assert spec.name in text


def test_population_is_the_falls_study_population() -> None:
    spec = load_cohort("population_65_plus")
    assert isinstance(spec, CohortSpec)
    assert spec.index.date is not None and str(spec.index.date) == "2019-01-01"
    assert spec.demographics.min_age == 65
    assert spec.observation.loss_after_days == 365


def test_default_prior_days_is_the_longest_look_back() -> None:
    spec = load_cohort("new_users_benzodiazepines")
    assert isinstance(spec, CohortSpec)
    assert spec.prior_days == 365


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"concept_sets": {"benzo": {"codes": ["ATX//N05"]}}},
         r"concept_sets\.benzo\.codes: .*unknown vocabulary 'ATX'"),
        ({"concept_sets": {"benzo": {"codes": ["ATC//N0*5"]}}}, r"'\*' only at the end"),
        ({"concept_sets": {"benzo": {"code_set": "unicorns"}}}, r"unknown code set 'unicorns'"),
        ({"concept_sets": {"benzo": {}}}, r"needs 'codes', a 'code_set' or 'categories'"),
        ({"index": {"concept_set": "nothing"}},
         r"index\.concept_set: unknown concept set 'nothing' \(defined: benzo\)"),
        ({"index": {"concept_set": "benzo", "date": "2019-01-01"}}, r"exactly one of"),
        ({"index": {"date": "2018-01-01"}}, r"index\.date 2018-01-01 is outside the study"),
        ({"inclusion": [{"name": "washout", "concept_set": "benzo", "window": [30, -30]}]},
         r"inclusion\[0\] 'washout'\.window: .*\[30, -30\] ends before it starts"),
        ({"inclusion": [{"name": "x", "concept_set": "benzo", "window": [-10, 0],
                         "min_count": 3, "max_count": 1}]},
         r"inclusion\[0\] 'x': .*max_count 1 is below min_count 3"),
        ({"exclusion": [{"name": "x", "concept_set": "benzo", "window": [-10, 0],
                         "max_count": 2}]}, r"exclusion\[0\] 'x'.*at least min_count"),
        ({"inclusion": [{"name": "far", "concept_set": "benzo", "window": [-5000, -4000]}]},
         r"'far': window \[-5000, -4000\] lies outside the data"),
        ({"inclusion": [{"name": "a", "concept_set": "benzo", "window": [-5, 0]},
                        {"name": "a", "concept_set": "benzo", "window": [-5, 0]}]},
         r"criteria names must be unique"),
        ({"observation": {"study_start": "2020-01-01", "study_end": "2019-01-01"}},
         r"study_end 2019-01-01 is before study_start"),
        ({"observation": {"study_start": "2019-01-01", "study_end": "2019-06-30",
                          "prior_days": 400}}, r"leave no index date"),
        ({"demographics": {"min_age": 80, "max_age": 65}}, r"min_age 80 is above max_age 65"),
        ({"colour": "blue"}, r"colour: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_spec_is_one_line_naming_the_part(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path, _with(**change))
    with pytest.raises(CohortSpecError, match=message) as err:
        load_cohort(path)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"cohort spec {path}: ")


def test_unreadable_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(CohortSpecError, match="invalid YAML"):
        load_cohort(bad)
    with pytest.raises(CohortSpecError, match="no such file"):
        load_cohort(tmp_path / "missing.yaml")
    with pytest.raises(CohortSpecError, match="neither a YAML file nor a built-in"):
        load_cohort("no_such_cohort")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(CohortSpecError, match="expected a mapping"):
        load_cohort(listed)


def test_set_operations_load_their_members(tmp_path: Path) -> None:
    _write(tmp_path, BASE)
    path = _write(
        tmp_path,
        {"name": "both", "operation": "intersection", "of": ["toy.yaml", "population_65_plus"]},
        "both.yaml",
    )
    spec = load_cohort(path)
    assert isinstance(spec, SetOperationSpec)
    assert [m.name for m in spec.members] == ["toy", "population_65_plus"]
    self_ref = _write(tmp_path, {"name": "loop", "operation": "union", "of": ["loop", "toy.yaml"]},
                      "loop.yaml")  # fmt: skip
    with pytest.raises(CohortSpecError, match=r"of\[0\]: cohort 'loop' refers to itself"):
        load_cohort(self_ref)
    missing = _write(tmp_path, {"name": "m", "operation": "union", "of": ["toy.yaml", "nope"]},
                     "m.yaml")  # fmt: skip
    with pytest.raises(CohortSpecError, match=r"of\[1\]: no cohort 'nope'"):
        load_cohort(missing)


def test_comparison_refuses_unknown_concept_sets(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {"name": "cmp", "kind": "comparison", "groups": ["new_users_zdrugs", "new_users_zdrugs"],
         "characteristics": [{"name": "diabetes", "concept_set": "diabetes"}]},
    )  # fmt: skip
    with pytest.raises(CohortSpecError, match=r"characteristics\[0\] 'diabetes': unknown concept"):
        load_comparison(path)


@given(lo=st.integers(-3000, 3000), hi=st.integers(-3000, 3000))
def test_window_ends_are_ordered(lo: int, hi: int) -> None:
    """A window is accepted exactly when it does not end before it starts."""
    if lo <= hi:
        c = Criterion(name="w", concept_set="x", window=(lo, hi))
        assert c.window == (lo, hi)
        assert f"[{lo}, {hi}]" in c.describe()
    else:
        with pytest.raises(ValueError, match="ends before it starts"):
            Criterion(name="w", concept_set="x", window=(lo, hi))
