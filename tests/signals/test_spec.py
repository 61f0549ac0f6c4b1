"""Study files: the shipped falls study loads; every bad part is one line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sndslab.signals import FALLS_STUDY, StudySpec, StudySpecError, load_study


def _falls() -> dict[str, Any]:
    return load_study(FALLS_STUDY).model_dump(mode="json")


def test_falls_study_loads() -> None:
    spec = load_study(FALLS_STUDY)
    assert spec.population.min_age == 65
    assert spec.exposures.atc == ("ATC//*",)
    assert "ICD10//S72*" in spec.outcome.diagnoses
    assert spec.screening.lag_labels()[spec.screening.pre_lags] == "0w"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("outcome", "diagnoses"), ["CIM//S72*"], "outcome.diagnoses"),
        (("outcome", "diagnoses"), ["ATC//N05*"], "not allowed here"),
        (("outcome", "diagnoses"), [], "outcome.diagnoses"),
        (("exposures", "atc"), ["ATC//N0*5"], "'*' only at the end"),
        (("screening", "windows"), {"early": [0, 40]}, "outside 0..12"),
        (("screening", "windows"), {}, "at least one lag window"),
        (("screening", "bucket_days"), 0, "screening.bucket_days"),
        (
            ("sccs", "risk_windows"),
            [{"name": "a", "start": 0, "end": 30}, {"name": "b", "start": 10}],
            "overlap",
        ),
        (("sccs", "risk_windows"), [{"name": "a", "start": 20, "end": 10}], "before start"),
        (("sccs", "age_groups"), [70, 65], "increasing"),
        (("exposures", "duration", "by_atc"), {"N05": 0}, "days per pack"),
        (("population", "min_age"), -1, "population.min_age"),
    ],
)
def test_bad_parts_are_named(path: tuple[str, ...], value: Any, message: str) -> None:
    data = _falls()
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(StudySpecError, match=message) as err:
        StudySpec.parse(data)
    assert "\n" not in str(err.value)


def test_unknown_field_and_bad_files(tmp_path: Path) -> None:
    data = _falls()
    data["outcome"]["diagnosis"] = ["ICD10//S72*"]
    with pytest.raises(StudySpecError, match=r"outcome\.diagnosis"):
        StudySpec.parse(data)
    with pytest.raises(StudySpecError, match="does not exist"):
        load_study(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", "utf-8")
    with pytest.raises(StudySpecError, match="not valid YAML"):
        load_study(bad)
    bad.write_text("- a list\n", "utf-8")
    with pytest.raises(StudySpecError, match="YAML mapping"):
        load_study(bad)
