"""The SCCS power table: the sample-size formula against simulation, and on a real extract."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from sndslab.synth.power import falls_power, needed_cases, power_markdown


@pytest.mark.parametrize(("r", "irr"), [(0.01, 2.0), (0.05, 1.5), (0.002, 3.0), (0.2, 1.3)])
def test_needed_cases_reach_the_power_by_simulation(r: float, irr: float) -> None:
    n = math.ceil(needed_cases(r, irr, alpha=0.05, power=0.8))
    pi = irr * r / (irr * r + 1 - r)
    rng = np.random.default_rng(3)
    in_window = rng.binomial(n, pi, 20_000)
    z = (in_window - n * r) / math.sqrt(n * r * (1 - r))
    rejected = np.abs(z) > NormalDist().inv_cdf(0.975)
    assert 0.75 <= rejected.mean() <= 0.86


def test_needed_cases_shrink_with_the_effect_and_grow_with_stringency() -> None:
    assert needed_cases(0.01, 3.0) < needed_cases(0.01, 2.0) < needed_cases(0.01, 1.2)
    assert needed_cases(0.01, 2.0, alpha=0.05 / 500) > needed_cases(0.01, 2.0)
    assert math.isinf(needed_cases(0.0, 2.0))
    assert math.isinf(needed_cases(0.01, 1.0))


def test_falls_power_on_the_extract(extract: Path) -> None:
    rows = falls_power(extract)
    assert len(rows) >= 10
    assert all(r.inn for r in rows)
    exposed = [r for r in rows if r.exposed_cases > 0]
    assert exposed, "no effect drug is exposed among the fall cases"
    for r in exposed:
        assert 0 < r.risk_share < 1
        assert r.persons_needed_screening > r.persons_needed_nominal > 0
    table = power_markdown(rows)
    assert table.count("\n") == len(rows) + 2
