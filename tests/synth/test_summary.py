"""The summary ``sndslab synth`` prints: the GP density is flagged as meaningless on small
populations (every region has at least one GP group, issue 11 item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.synth import SynthResult


def _summary(patients: int) -> dict[str, str]:
    manifest = {
        "config": {"patients": patients, "first_year": 2019, "last_year": 2019},
        "calibration": {"gp_per_100k": 1234.5, "deaths_per_1000_per_year": 9.1},
    }
    return dict(SynthResult(out_dir=Path("x"), files={}, manifest=manifest).summary())


@pytest.mark.parametrize(("patients", "flagged"), [(2_000, True), (19_999, True), (20_000, False)])
def test_gp_density_is_flagged_below_20000_persons(patients: int, flagged: bool) -> None:
    row = _summary(patients)["gp per 100k"]
    assert row.startswith("1234")
    assert ("meaningful above ~20,000 persons only" in row) is flagged
    assert _summary(patients)["deaths per 1000 per year"] == "9.1"
