"""Releasing the indicator catalogue (``sndslab release``, ``release_indicators``) on the
session's indicator lake (tests/indicators/conftest.py): every released file passes the gate's
attack, standardised rates by hand and against ``standardise_table``, suppressed derived
measures empty, a second release checked against the first, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.events import extract_events
from sndslab.indicators import (
    DEMO_INDICATORS,
    IndicatorReleaseError,
    ReleasedIndicators,
    compute_indicators,
    load_indicators,
    release_indicators,
)
from sndslab.indicators._release import _standardised
from sndslab.indicators.stats import direct_standardise, standard_population, standardise_table
from sndslab.release import ReleaseLog, ReleaseRefusedError, attack

ONLY = ("diabetes", "mortality", "gp_visits_monthly", "density_gp")


@pytest.fixture(scope="module")
def released(
    ingested_synth: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ReleasedIndicators]:
    """A copy of the session's ingested lake (tests/conftest.py) with its events and four
    indicators (one per numerator source and period kind), and a release of them."""
    lake = tmp_path_factory.mktemp("release-indicators") / "lake"
    shutil.copytree(ingested_synth[1], lake)
    extract_events(lake)
    compute_indicators(lake, specs=load_indicators(names=list(ONLY)))
    out = lake.parent / "released"
    return lake, release_indicators(lake, out, only=ONLY)


def test_release_writes_the_tables_of_each_indicator(
    released: tuple[Path, ReleasedIndicators],
) -> None:
    _, r = released
    out = r.out_dir
    names = {p.name for p in out.iterdir()}
    for stem in (
        "diabetes__territory_sex",
        "diabetes__region_age_sex",
        "mortality__territory_sex",
        "mortality__region_age_sex",
        "gp_visits_monthly__territory_sex",
        "density_gp__territory_sex",
    ):
        assert {f"{stem}.parquet", f"{stem}.csv"} <= names
    assert {"README.md", "audit.json", "data_dictionary.csv"} <= names
    # monthly and density indicators have no age strata: no broad-age table
    assert "gp_visits_monthly__region_age_sex.parquet" not in names
    assert "density_gp__region_age_sex.parquet" not in names
    terr = pq.read_table(out / "diabetes__territory_sex.parquet")
    assert {"std_rate", "std_lower", "std_upper", "rate_lower"} <= set(terr.column_names)
    assert "person_id" not in terr.column_names
    assert r.cells() > 3000 and r.suppressed() > 0
    dictionary = (out / "data_dictionary.csv").read_text("utf-8")
    assert "diabetes__territory_sex" in dictionary and "Fay-Feuer" in dictionary


def test_every_released_file_passes_the_attack(released: tuple[Path, ReleasedIndicators]) -> None:
    """Re-run the attack on what was written (the protected tables) with the lake's log."""
    lake, r = released
    log = ReleaseLog(lake)
    assert log.releases() == [r.release_id]
    tables = r.result.tables
    assert attack(tables, exact=True).passed
    assert attack(tables, history=log).passed
    out = r.out_dir
    for t in tables:
        written = pq.read_table(out / f"{t.spec.stem}.parquet")
        assert written.equals(t.released())
        status = written.column("status").to_numpy(zero_copy_only=False)
        assert ((status == "suppressed") == t.suppressed).all()
        counts = written.column("numerator_persons").to_numpy(zero_copy_only=False)
        shown = counts[status == "published"].astype(float)
        assert not ((shown > 0) & (shown < 11)).any()


def test_suppressed_derived_measures_are_empty(released: tuple[Path, ReleasedIndicators]) -> None:
    _, r = released
    for stem, table in r.tables.items():
        hidden = table.filter(pc.equal(table.column("status"), "suppressed"))
        assert hidden.num_rows > 0, stem
        for col in table.column_names:
            if col not in ("period", "region", "departement", "sex", "age_band", "status"):
                assert hidden.column(col).null_count == hidden.num_rows, (stem, col)
        csv_rows = (r.out_dir / f"{stem}.csv").read_text("utf-8").splitlines()
        for line in csv_rows:
            if line.endswith('"suppressed"'):
                fields = line.split(";")
                assert all(f == "" for f in fields[-11:-1] if not f.startswith('"'))


def test_standardised_rate_equals_crude_when_ages_match_the_standard() -> None:
    """Hand check: a population proportional to the ESP 2013 gives its crude rate."""
    esp = standard_population("esp2013")
    pop = esp.weights / 10  # 10,000 persons with the standard's age structure
    rates = np.linspace(0.001, 0.2, len(pop))
    events = np.round(pop * rates)
    crude = events.sum() / pop.sum() * 100
    est = direct_standardise(events, pop, esp.weights, per=100)
    assert float(est.estimate) == pytest.approx(crude, rel=1e-12)


def test_standardised_rate_matches_standardise_table_on_marts(
    released: tuple[Path, ReleasedIndicators],
) -> None:
    lake, r = released
    with sndslab.open_lake(lake) as opened:
        rows = opened.sql(
            """SELECT year, geo_level, geo_code, sex, age_band, numerator, denominator
               FROM marts.indicators
               WHERE indicator = 'diabetes' AND age_level = '5y' AND geo_level = 'france'
            """
        ).to_arrow()
        ours = _standardised(opened, "diabetes", "", 100, "esp2013")
    esp = standard_population("esp2013")
    low = pc.cast(pc.utf8_slice_codeunits(rows.column("age_band"), 0, 2), pa.int64())
    rows = rows.append_column("band", pa.array(esp.band_index(low.to_numpy())))
    peer = standardise_table(
        rows,
        ["year", "geo_level", "geo_code", "sex"],
        "band",
        "numerator",
        "denominator",
        esp.weights,
        per=100,
    ).filter(pc.equal(pc.field("geo_level"), "france"))
    mine = ours.filter(pc.equal(pc.field("region"), "ALL"))
    assert peer.num_rows == mine.num_rows >= 3  # periods with a look-back × three sexes
    for row in peer.to_pylist():
        match = mine.filter(
            (pc.field("period") == str(row["year"])) & (pc.field("sex") == row["sex"])
        ).to_pylist()
        assert len(match) == 1
        assert match[0]["std_rate"] == pytest.approx(row["rate"], rel=1e-12)
        assert match[0]["std_lower"] == pytest.approx(row["lower"], rel=1e-12)
        assert match[0]["std_upper"] == pytest.approx(row["upper"], rel=1e-12)
    # the released France row carries it
    terr = r.tables["diabetes__territory_sex"]
    fr = terr.filter((pc.field("region") == "ALL") & (pc.field("sex") == "all")).to_pylist()
    assert all(x["std_rate"] is not None and x["std_lower"] < x["std_rate"] for x in fr)
    # released rounded to 3 significant digits
    for x in fr:
        exact = mine.filter(
            (pc.field("period") == x["period"]) & (pc.field("sex") == "all")
        ).to_pylist()[0]
        assert x["std_rate"] == pytest.approx(exact["std_rate"], rel=5e-3)
        assert x["std_rate"] == float(f"{exact['std_rate']:.3g}")


def test_tables_of_one_indicator_are_linked(released: tuple[Path, ReleasedIndicators]) -> None:
    """Région × sex cells are the same cells in both tables: same suppression."""
    _, r = released
    terr = r.tables["diabetes__territory_sex"]
    age = r.tables["diabetes__region_age_sex"]
    a = terr.filter(pc.equal(terr.column("departement"), "ALL")).select(
        ["period", "region", "sex", "status"]
    )
    b = age.filter(pc.equal(age.column("age_band"), "all")).select(
        ["period", "region", "sex", "status"]
    )
    joined = a.join(b, ["period", "region", "sex"], right_suffix="_b")
    assert joined.num_rows == a.num_rows == b.num_rows
    assert joined.column("status").to_pylist() == joined.column("status_b").to_pylist()


def test_second_release_is_checked_against_the_first(
    released: tuple[Path, ReleasedIndicators],
) -> None:
    lake, first = released
    second = release_indicators(lake, lake.parent / "released-2", only=["diabetes"])
    assert first.release_id in second.result.audit["previous_releases"]
    log = ReleaseLog(lake)
    assert attack(second.result.tables, history=log).passed
    # a cell published before stays published, a hidden one stays protected
    before = first.tables["diabetes__territory_sex"]
    after = second.tables["diabetes__territory_sex"]
    assert before.column("status").to_pylist() == after.column("status").to_pylist()


def test_refusals(released: tuple[Path, ReleasedIndicators], tmp_path: Path) -> None:
    lake, _ = released
    with pytest.raises(ReleaseRefusedError, match="below the minimum"):
        release_indicators(lake, tmp_path / "x", only=["diabetes"], threshold=5)
    with pytest.raises(IndicatorReleaseError, match="standard"):
        release_indicators(lake, tmp_path / "y", standard="world")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_cli_release(released: tuple[Path, ReleasedIndicators], tmp_path: Path) -> None:
    lake, _ = released
    runner = CliRunner()
    res = runner.invoke(
        app, ["release", str(lake), "--out", str(tmp_path / "r"), "--threshold", "9"]
    )
    assert res.exit_code != 0
    lines = [x for x in res.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "threshold 9" in lines[0]
    res = runner.invoke(
        app,
        [
            "release",
            str(lake),
            "--out",
            str(tmp_path / "ok"),
            "--only",
            "mortality",
            "--years",
            "2020",
            "--standard",
            "france",
            "--decimal-comma",
        ],
    )
    assert res.exit_code == 0, res.output
    audit = json.loads((tmp_path / "ok" / "audit.json").read_text("utf-8"))
    assert audit["requested"]["decimal_comma"] is True
    assert [t["file"] for t in audit["tables"]] == [
        "mortality__territory_sex",
        "mortality__region_age_sex",
    ]
    text = (tmp_path / "ok" / "mortality__territory_sex.csv").read_text("utf-8")
    assert '"2020";"ALL";"ALL";"all";' in text and "2019" not in text.split("\n", 2)[1]
    res = runner.invoke(app, ["release", str(lake), "--out", str(tmp_path / "u"), "--only", "nope"])
    assert res.exit_code != 0 and len(res.output.strip().splitlines()) == 1


def test_demo_subset_is_in_the_catalogue() -> None:
    assert len(load_indicators(names=list(DEMO_INDICATORS))) == len(DEMO_INDICATORS)
