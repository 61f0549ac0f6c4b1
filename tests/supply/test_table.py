"""A territory table the user brings (``--table FILE.csv``): reading, refusals, the models,
and the release (territories and coefficients through the gate, figures from the release)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.supply import (
    SupplyDemand,
    TerritoryTableError,
    read_territory_table,
    release_supply_demand,
)

HEADER = "territory;consultations;population;practitioners;age_share_65_plus;unemployment"


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _territories(n: int = 40, slope: float = 0.5, seed: int = 0) -> str:
    """A noise-free territory table: consultations per affiliate = 3 + slope × density/100
    + 4 × share 65+ − 2 × unemployment."""
    rng = np.random.default_rng(seed)
    lines = [HEADER]
    for i in range(n):
        pop = float(rng.integers(50_000, 900_000))
        density = rng.uniform(60, 280)
        old, unemp = rng.uniform(0.12, 0.3), rng.uniform(0.05, 0.12)
        rate = 3 + slope * density / 100 + 4 * old - 2 * unemp
        lines.append(f"{i:03d};{rate * pop:.6f};{pop:.0f};{density * pop / 1e5:.8f};{old};{unemp}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def empty_lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    sndslab.open_lake(root, create=True).close()
    return root


def test_reads_both_separators_and_decimal_commas(tmp_path: Path) -> None:
    a = read_territory_table(
        _csv(
            tmp_path,
            "territory;consultations;population;practitioners\n01;4000,5;1000;1,5\n2A;10;20;0\n",
        )
    )
    b = read_territory_table(
        _csv(
            tmp_path,
            "territory,consultations,population,practitioners\n01,4000.5,1000,1.5\n2A,10,20,0\n",
            "b.csv",
        )
    )
    assert a.equals(b)
    assert a.column("territory").to_pylist() == ["01", "2A"]
    assert a.column("consultations_per_affiliate").to_pylist() == [4.0005, 0.5]
    assert a.column("practitioners_per_100k").to_pylist() == [150.0, 0.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "territory;consultations;population\n01;1;2\n",
            r"missing column\(s\) \['practitioners'\]",
        ),
        (HEADER + "\n01;1;2;3;0.1;x\n", r"line 2: column 'unemployment': 'x' is not a number"),
        (HEADER + "\n01;1;2;3;0.1;0.1\n01;1;2;3;0.1;0.1\n", "line 3: territory '01' already"),
        (HEADER + "\n01;1;2;3;0.1;0.1\n02;-1;2;3;0.1;0.1\n", "line 3: consultations is negative"),
        (HEADER + "\n01;1;0;3;0.1;0.1\n", "line 2: population must be positive"),
        (HEADER + "\n01;1;2;;0.1;0.1\n", "line 2: column 'practitioners' is empty"),
        (HEADER + "\n;1;2;3;0.1;0.1\n", "line 2: empty territory"),
        (HEADER + "\n", "no territory row"),
        ("", "empty file"),
    ],
)
def test_bad_tables_are_refused_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TerritoryTableError, match=message):
        read_territory_table(_csv(tmp_path, text))


def test_models_recover_a_known_slope(tmp_path: Path) -> None:
    path = _csv(tmp_path, _territories(slope=0.5))
    fit = SupplyDemand(source="table", table=str(path)).fit(None)
    assert list(fit.fits_) == ["density", "density_age", "density_age_controls"]
    assert fit.age_controls_ == ["age_share_65_plus"]
    assert fit.controls_ == ["unemployment"]
    full = fit.slope("density_age_controls")
    assert full["estimate"] == pytest.approx(0.5, abs=1e-6)  # noise-free: exact
    assert full["upper"] - full["lower"] < 1e-5
    # without the controls the slope is biased by the omitted variables: not exact
    assert fit.slope("density")["estimate"] != pytest.approx(0.5, abs=1e-3)
    s = fit.summary()
    assert s.column_names[:6] == ["model", "term", "estimate", "se", "lower", "upper"]
    assert set(s.column("model").to_pylist()) == set(fit.fits_)
    # only the age structure: the user restricts the controls
    only = SupplyDemand(source="table", table=str(path), controls=[]).fit(None)
    assert list(only.fits_) == ["density", "density_age"]
    with pytest.raises(sndslab.errors.InvalidArgumentError, match="'rain'"):
        SupplyDemand(source="table", table=str(path), controls=["rain"]).fit(None)


def test_release_and_figures_come_from_the_released_table(tmp_path: Path, empty_lake: Path) -> None:
    text = _territories(n=30) + "999;60;10;0.01;0.2;0.1\n"  # 10 persons: suppressed
    path = _csv(tmp_path, text)
    fit = SupplyDemand(source="table", table=str(path)).fit(None)
    assert fit.accounting_["territories_below_min_persons"] == 1
    assert fit.slope("density_age_controls")["estimate"] == pytest.approx(0.5, abs=1e-6)
    out = tmp_path / "out"
    done = release_supply_demand(fit, out, lake=empty_lake)
    released = pq.read_table(out / "supply_demand_territories.parquet")
    row = next(r for r in released.to_pylist() if r["territory"] == "999")
    assert row["status"] == "suppressed" and row["consultations"] is None
    assert "person_id" not in released.column_names
    assert done.points == 30  # the suppressed territory is not drawn
    for fig in done.figures.values():
        assert fig.is_file() and fig.stat().st_size > 10_000
    coef = pq.read_table(out / "supply_demand_coefficients.parquet").to_pylist()
    # one row per fitted term, all published, none invented by the gate
    assert len(coef) == sum(len(f.names) for f in fit.fits_.values())
    assert {r["status"] for r in coef} == {"published"}
    slope = next(
        r for r in coef if r["coefficient"] == "density_age_controls:practitioners_per_100"
    )
    assert slope["estimate"] == pytest.approx(0.5, abs=1e-6)
    assert (out / "audit.json").is_file() and (out / "README.md").is_file()


def test_cli_table_and_its_errors(tmp_path: Path, empty_lake: Path) -> None:
    runner = CliRunner()
    path = _csv(tmp_path, _territories(n=20))
    res = runner.invoke(
        app,
        [
            "analyse",
            "supply-demand",
            str(empty_lake),
            "--table",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "density_age_controls" in res.output
    bad = _csv(tmp_path, "territory;population\n01;3\n", "bad.csv")
    res = runner.invoke(
        app,
        [
            "analyse",
            "supply-demand",
            str(empty_lake),
            "--table",
            str(bad),
            "--out",
            str(tmp_path / "o2"),
        ],
    )
    assert res.exit_code != 0
    assert "error:" in res.output and "missing column(s)" in res.output
    assert "Traceback" not in res.output
    # never into the lake, even with --overwrite
    args = ["analyse", "supply-demand", str(empty_lake), "--table", str(path)]
    res = runner.invoke(app, [*args, "--out", str(empty_lake), "--overwrite"])
    assert res.exit_code == 2 and "choose another output" in res.output
    res = runner.invoke(app, [*args, "--out", str(empty_lake / "inside")])
    assert res.exit_code == 2 and not (empty_lake / "inside").exists()
