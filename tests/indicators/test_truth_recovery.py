"""The indicators recover the truth the synthetic generator injected (issue 12, item 4), on
the session's lake (2,000 persons × 2019–2020, seed 1; the whole catalogue computed once).

Every injected value is read from the generator's truth manifest (``truth/manifest.json``:
``calendar.care_types.gp.first_lockdown_change``, the first lockdown's dates) or its
configuration (``departements.csv`` multipliers named by ``regional_differences``), never
written here.

Thresholds are those of a 2,000-person extract (24 months of ~900 GP visits; 112 treated
diabetes cases over 18 régions), measured on the fixture (seed 1):

* ITS level rate ratio of GP visits per month 0.646 [0.517, 0.807], injected 0.65, the model's
  noise-free target 0.628 (the decline of the week before the lockdown and the summer
  catch-up): asserted, the CI contains the injected value and excludes 1;
* regional diabetes Spearman 0.54 crude and 0.54 age-standardised (régions with an empty
  broad age band force bands 0–44 / 45+ at this size): asserted > 0.3 (a 2,000-person
  extract cannot do better: 0.87 at 20,000 persons, and the 100,000-person figures of
  ``benchmarks/results/indicators.json`` are where the full targets, Spearman ≥ 0.8 and the
  ITS CI containing the injected drop, are checked).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sndslab.errors import InvalidArgumentError
from sndslab.indicators import (
    lockdown_truth,
    region_multipliers,
    score_lockdown,
    score_regional_ranking,
)
from sndslab.lake import Lake


@pytest.fixture(scope="module")
def truth(ingested_synth: tuple[Path, Path]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(
        (ingested_synth[0] / "truth" / "manifest.json").read_text()
    )
    return manifest


def test_the_manifest_carries_the_injected_lockdown_drop(truth: dict[str, Any]) -> None:
    injected = lockdown_truth(truth, "gp")
    change = truth["calendar"]["care_types"]["gp"]["first_lockdown_change"]
    assert injected.rate_ratio == pytest.approx(1 + change)
    assert injected.rate_ratio < 1  # a drop
    assert str(injected.start) == truth["calendar"]["lockdowns"]["first"]["start"]
    with pytest.raises(InvalidArgumentError, match="care type 'teleport'"):
        lockdown_truth(truth, "teleport")


def test_its_level_change_contains_the_injected_lockdown_drop(
    opened: Lake, truth: dict[str, Any]
) -> None:
    score = score_lockdown(opened, truth, "gp_visits_monthly", "gp")
    assert score.months == 24
    assert score.injected == lockdown_truth(truth, "gp").rate_ratio
    assert score.lower <= score.injected <= score.upper, score
    assert score.contains_injected
    assert score.upper < 1.0, score  # the drop is detected, not only compatible
    # the model measures what was injected: on the noise-free injected intensity it lands
    # within 0.05 of the injected rate ratio
    assert abs(score.noise_free - score.injected) < 0.05, score


def test_its_score_fails_against_a_wrong_truth(opened: Lake, truth: dict[str, Any]) -> None:
    """The check can fail: an injected change of 0 (no lockdown) is outside the CI."""
    wrong = copy.deepcopy(truth)
    wrong["calendar"]["care_types"]["gp"]["first_lockdown_change"] = 0.0
    assert not score_lockdown(opened, wrong).contains_injected


def test_regional_diabetes_ranking_follows_the_injected_multipliers(
    opened: Lake, truth: dict[str, Any]
) -> None:
    assert "diabetes_rr" in truth["regional_differences"]
    score = score_regional_ranking(opened, "diabetes", "diabetes_rr")
    assert score.year == 2020  # the Cartographie groups need the year before
    assert score.regions == 18
    assert score.cases > 50
    assert score.spearman_crude > 0.3, score  # measured 0.54 (seed 1)
    assert score.slope_lower <= 1.0 <= score.slope_upper, score


def test_age_standardised_regional_diabetes_ranks_with_the_multipliers(opened: Lake) -> None:
    score = score_regional_ranking(opened, "diabetes", "diabetes_rr")
    assert score.standardised_bands[0] == 0 and len(score.standardised_bands) >= 2
    assert score.spearman_standardised > 0.3, score  # measured 0.54 (seed 1)


def test_region_multipliers_are_population_weighted() -> None:
    rr = region_multipliers("diabetes_rr")
    assert len(rr) == 18
    assert rr["6"] == pytest.approx(1.59)  # Mayotte: one département
    assert rr["94"] == pytest.approx(0.94)  # Corse: 2A and 2B both 0.94
    # Île-de-France by hand (populations in thousands, diabetes_rr of its 8 départements)
    idf = [(2176, 0.79), (1421, 1.04), (1448, 0.84), (1296, 0.99), (1624, 0.84),
           (1644, 1.39), (1407, 1.04), (1249, 1.19)]  # fmt: skip
    assert rr["11"] == pytest.approx(sum(p * v for p, v in idf) / sum(p for p, _ in idf))
    assert 0.5 < min(rr.values()) < 1.0 < max(rr.values()) < 2.5
    with pytest.raises(InvalidArgumentError, match="no column 'unicorns'"):
        region_multipliers("unicorns")
