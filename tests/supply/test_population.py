"""The population file (Open DAMIR denominators): format, round trip, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sndslab.supply import OPENDAMIR_AGE_BANDS, PopulationError, PopulationFile, read_population

ROW = st.fixed_dictionaries(
    {
        "territory": st.sampled_from(["11", "24", "84", "93", "5", "001", "02A"]),
        "year": st.integers(2009, 2030),
        "age_band": st.sampled_from(OPENDAMIR_AGE_BANDS),
        "sex": st.sampled_from([1, 2]),
        "population": st.integers(0, 10**8).map(float),
    }
)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        ROW,
        min_size=1,
        max_size=30,
        unique_by=lambda r: (r["territory"], r["year"], r["age_band"], r["sex"]),
    ),
    level=st.sampled_from(["region", "departement"]),
)
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list[dict], level: str) -> None:
    pop = PopulationFile.model_validate(
        {"source": "INSEE, estimations de population", "territory_level": level, "rows": rows}
    )
    path = tmp_path_factory.mktemp("pop") / "p.csv"
    path.write_text(pop.to_csv(), encoding="utf-8")
    assert read_population(path) == pop


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("territory;year;age_band;sex;population\n84;2019;0;1;5\n", "source"),
        ("# source: x\nterritory;year;age_band;sex\n", r"missing column\(s\) \['population'\]"),
        (
            "# source: x\nterritory;year;age_band;sex;population\n84;2019;25;1;5\n",
            "line 3: age_band",
        ),
        ("# source: x\nterritory;year;age_band;sex;population\n84;2019;20;9;5\n", "line 3: sex"),
        (
            "# source: x\nterritory;year;age_band;sex;population\n84;2019;20;1;-5\n",
            "line 3: population",
        ),
        ("# source: x\nterritory;year;age_band;sex;population\n84;2019;20;1\n", "line 3: 4 fields"),
        ("# source: x\n", "no header line"),
        (
            "# source: x\nterritory;year;age_band;sex;population\n84;2019;20;1;5\n84;2019;20;1;6\n",
            "row 2 repeats row 1",
        ),
    ],
)
def test_refusals_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PopulationError, match=message):
        read_population(path)


def test_decimal_comma_and_comma_separator(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "# source: CNAM, population protégée\n# territory_level: region\n"
        "territory,year,age_band,sex,population\n84,2019,80,2,1234\n",
        encoding="utf-8",
    )
    pop = read_population(path)
    assert pop.rows[0].population == 1234.0 and pop.source == "CNAM, population protégée"
