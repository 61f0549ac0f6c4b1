"""The département analysis on the session's synthetic lake (2,000 persons, 2019–2020) and the
population file derived from it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.errors import InvalidArgumentError
from sndslab.supply import SupplyDemand, TerritoryTableError, population_from_lake


@pytest.fixture(scope="module")
def fitted(supply_lake: Path) -> SupplyDemand:
    with sndslab.open_lake(supply_lake) as lake:
        return SupplyDemand().fit(lake)


def test_territory_table_counts_what_the_lake_holds(
    supply_lake: Path, fitted: SupplyDemand
) -> None:
    assert fitted.accounting_["year"] == 2020  # the last data year by default
    acc = fitted.accounting_
    excluded = acc["persons_excluded.excluded"]
    rules = ("no_birth_date", "no_sex", "no_residence", "fictitious_nir")
    assert 0 <= excluded <= sum(acc[f"persons_excluded.{r}"] for r in rules)
    assert acc["supply_gp_consultations.outside_denominator"] >= 0
    t = fitted.territories_.to_pylist()
    assert all(len(r["territory"]) == 3 for r in t)  # SNDS département codes
    with sndslab.open_lake(supply_lake) as lake:
        # consultations: GP events of natures C, G, V, VG in 2020 of the persons counted
        events = (
            lake.sql(
                """SELECT count(*) FROM events.events e JOIN events.patients p USING (person_id)
            WHERE e.category = 'visit' AND e.code IN ('SPECIALTY//1', 'SPECIALTY//22',
                'SPECIALTY//23') AND e.modifier IN ('NGAP//C', 'NGAP//G', 'NGAP//V', 'NGAP//VG')
              AND year(e.start) = 2020 AND p.birth_date <= DATE '2020-12-31'
              AND (p.death_date IS NULL OR p.death_date >= DATE '2020-01-01')
              AND p.sex IN (1, 2) AND p.residence_dpt IS NOT NULL
              AND NOT coalesce(p.fictitious_nir, FALSE)"""
            )
            .to_arrow()[0][0]
            .as_py()
        )
        gps = (
            lake.sql(
                """SELECT count(DISTINCT PFS_PFS_NUM) FROM int.practitioners
            WHERE CAST(PFS_PRA_SPE AS VARCHAR) IN ('1', '22', '23')"""
            )
            .to_arrow()[0][0]
            .as_py()
        )
        pop = population_from_lake(lake, [2020])
    assert sum(r["consultations"] for r in t) == events > 1000
    assert sum(r["population"] for r in t) == sum(r.population for r in pop.rows)
    assert 0 < sum(r["practitioners"] for r in t) <= gps
    assert pop.territory_level == "region" and "synthetic lake" in pop.source
    assert {r.age_band for r in pop.rows} <= {0, 20, 30, 40, 50, 60, 70, 80}
    # small départements (< 11 persons) are outside the models, and counted
    small = sum(1 for r in t if r["population"] < 11)
    assert fitted.accounting_["territories_below_min_persons"] == small
    assert fitted.fits_["density"].n == len(t) - small
    assert list(fitted.fits_) == ["density", "density_age"]


def test_practitioner_and_control_files(
    supply_lake: Path, fitted: SupplyDemand, tmp_path: Path
) -> None:
    terr = fitted.territories_.column("territory").to_pylist()
    prac = tmp_path / "prac.csv"
    prac.write_text("territory;practitioners_per_100k\n" + "".join(f"{t};150\n" for t in terr[1:]))
    with sndslab.open_lake(supply_lake) as lake:
        with pytest.raises(
            TerritoryTableError, match=f"no practitioners for territory '{terr[0]}'"
        ):
            SupplyDemand(practitioners=str(prac)).fit(lake)
        prac.write_text(
            "territory;practitioners_per_100k\n"
            + "".join(f"{t};{100 + 3 * i}\n" for i, t in enumerate(terr))
        )
        controls = tmp_path / "controls.csv"
        controls.write_text(
            "territory,income\n" + "".join(f"{t},{(i * 37) % 11}\n" for i, t in enumerate(terr))
        )
        fit = SupplyDemand(practitioners=str(prac), control_file=str(controls)).fit(lake)
    dens = fit.territories_.column("practitioners_per_100k").to_pylist()
    assert dens == pytest.approx([100 + 3 * i for i in range(len(terr))])
    assert fit.controls_ == ["income"]
    assert list(fit.fits_) == ["density", "density_age", "density_age_controls"]


def test_a_lake_without_events_is_refused(ingested_synth: tuple[Path, Path]) -> None:
    with (
        sndslab.open_lake(ingested_synth[1]) as lake,
        pytest.raises(InvalidArgumentError, match="run `sndslab events LAKE` first"),
    ):
        SupplyDemand().fit(lake)


def test_cli_releases_territories_coefficients_and_figures(
    writable_lake: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["analyse", "supply-demand", str(writable_lake), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    released = pq.read_table(out / "supply_demand_territories.parquet").to_pylist()
    published = [r for r in released if r["status"] == "published"]
    assert published and all(r["persons"] >= 11 for r in published)
    assert all(r["consultations"] is None for r in released if r["status"] == "suppressed")
    assert (out / "figures" / "scatter.png").stat().st_size > 10_000
    assert (out / "figures" / "map.png").stat().st_size > 10_000
    assert "person_id" not in (out / "supply_demand_territories.csv").read_text()
