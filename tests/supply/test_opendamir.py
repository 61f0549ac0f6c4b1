"""Open DAMIR (handmade lines in the public layout): indicators per capita with the population
file, and the région-level supply analysis; both through the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.indicators.stats import direct_standardise
from sndslab.supply import (
    OPENDAMIR_AGE_BANDS,
    OpenDamirIndicators,
    PopulationError,
    SupplyDemand,
    damir_standard,
)

DENSITY = {
    r: 80.0 + 15 * i
    for i, r in enumerate(("11", "24", "32", "44", "52", "53", "75", "76", "84", "93", "5"))
}
SLOPE = 0.5  # consultations per affiliate per +100 GPs per 100,000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, damir: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("damir")
    pop = damir.population()
    (root / "population.csv").write_text(pop.to_csv(), encoding="utf-8")
    mean = float(np.mean(list(DENSITY.values())))
    extra = {r: SLOPE * (d - mean) / 100 for r, d in DENSITY.items()}
    lines = damir.lines(extra=extra, pop=pop)
    damir.write(lines, root / "opendamir")
    (root / "practitioners.csv").write_text(
        "territory;practitioners_per_100k\n" + "".join(f"{r};{d}\n" for r, d in DENSITY.items()),
        encoding="utf-8",
    )
    lake = root / "lake"
    sndslab.open_lake(lake, create=True).close()
    return {
        "root": root,
        "lake": lake,
        "population": root / "population.csv",
        "lines": root / "opendamir",
        "practitioners": root / "practitioners.csv",
    }


@pytest.fixture(scope="module")
def fitted(files: dict[str, Path]) -> OpenDamirIndicators:
    with sndslab.open_lake(files["lake"]) as lake:
        return OpenDamirIndicators(population=files["population"], table=files["lines"]).fit(lake)


def _lines(files: dict[str, Path]) -> pa.Table:
    return pq.read_table(files["lines"])


def test_crude_rates_are_acts_over_the_population(
    files: dict[str, Path], fitted: OpenDamirIndicators
) -> None:
    t = _lines(files)
    gp = t.filter(
        pc.and_(pc.is_in(t["PRS_NAT"], pa.array([1111, 1211])), pc.equal(t["PSE_SPE_SNDS"], 1))
    )
    sel = gp.filter(pc.and_(pc.equal(gp["BEN_RES_REG"], 84), pc.equal(gp["SOI_ANN"], 2019)))
    acts = pc.sum(sel["PRS_ACT_QTE"]).as_py()
    pop = sum(
        r.population
        for r in sndslab.supply.read_population(files["population"]).rows
        if r.territory == "84" and r.year == 2019
    )
    row = next(
        r
        for r in fitted.table_.to_pylist()
        if r["indicator"] == "gp_consultations" and r["territory"] == "84" and r["year"] == 2019
    )
    assert row["numerator"] == acts
    assert row["population"] == pop
    assert row["rate"] == pytest.approx(acts / pop)
    assert row["rate_lower"] < row["rate"] < row["rate_upper"]
    # France = the sum of the régions (lines of unknown région, age or sex are not in it)
    fr = next(
        r
        for r in fitted.table_.to_pylist()
        if r["indicator"] == "gp_consultations" and r["territory"] == "FR" and r["year"] == 2019
    )
    regions = [
        r
        for r in fitted.table_.to_pylist()
        if r["indicator"] == "gp_consultations" and r["geo_level"] == "region" and r["year"] == 2019
    ]
    assert fr["numerator"] == sum(r["numerator"] for r in regions)


def test_standardised_rate_is_the_direct_standardisation(
    files: dict[str, Path], fitted: OpenDamirIndicators
) -> None:
    t = _lines(files)
    gp = t.filter(
        pc.and_(pc.is_in(t["PRS_NAT"], pa.array([1111, 1211])), pc.equal(t["PSE_SPE_SNDS"], 1))
    )
    sel = gp.filter(pc.and_(pc.equal(gp["BEN_RES_REG"], 11), pc.equal(gp["SOI_ANN"], 2020)))
    rows = sel.to_pylist()
    pops = sndslab.supply.read_population(files["population"]).rows
    d = [
        sum(r["PRS_ACT_QTE"] for r in rows if r["AGE_BEN_SNDS"] == b and r["BEN_SEX_COD"] in (1, 2))
        for b in OPENDAMIR_AGE_BANDS
    ]
    n = [
        sum(
            p.population for p in pops if p.territory == "11" and p.year == 2020 and p.age_band == b
        )
        for b in OPENDAMIR_AGE_BANDS
    ]
    expected = direct_standardise([d], [n], damir_standard(), per=1)
    row = next(
        r
        for r in fitted.table_.to_pylist()
        if r["indicator"] == "gp_consultations" and r["territory"] == "11" and r["year"] == 2020
    )
    assert row["std_rate"] == pytest.approx(float(expected.estimate[0]), rel=1e-12)
    assert row["std_lower"] == pytest.approx(float(expected.lower[0]), rel=1e-9)
    assert row["std_upper"] == pytest.approx(float(expected.upper[0]), rel=1e-9)


def test_every_line_is_accounted(fitted: OpenDamirIndicators) -> None:
    acc = fitted.accounting_["gp_consultations"]
    assert acc["lines_unknown_region"] == acc["lines_unknown_age"] == acc["lines_unknown_sex"] == 1
    left_out = acc["lines_unknown_region"] + acc["lines_unknown_age"] + acc["lines_unknown_sex"]
    assert acc["lines_kept"] + left_out == acc["lines"]
    assert acc["value"] - acc["value_kept"] == 15  # the three lines of 5 acts
    amount = [r for r in fitted.table_.to_pylist() if r["indicator"] == "reimbursed_amount"]
    assert all(r["rate_lower"] is None or np.isnan(r["rate_lower"]) for r in amount)


def test_monthly_series_and_its_recover_the_drop(fitted: OpenDamirIndicators) -> None:
    monthly = [
        r
        for r in fitted.table_.to_pylist()
        if r["indicator"] == "gp_consultations_monthly" and r["territory"] == "FR"
    ]
    assert len(monthly) == 24 and {r["month"] for r in monthly} == set(range(1, 13))
    its = fitted.its_summary().to_pylist()[0]
    assert its["indicator"] == "gp_consultations_monthly"
    # injected: × 0.7 from April 2020 (the break is the first lockdown, 17 March 2020)
    assert its["lower"] <= 0.7 <= its["upper"]
    assert its["upper"] < 0.8


def test_population_must_cover_every_region(
    files: dict[str, Path], damir: Any, tmp_path: Path
) -> None:
    short = damir.population(regions=tuple(r for r in damir.regions if r != "24"))
    path = tmp_path / "short.csv"
    path.write_text(short.to_csv(), encoding="utf-8")
    with (
        sndslab.open_lake(files["lake"]) as lake,
        pytest.raises(PopulationError, match="does not cover région '24' in 2019"),
    ):
        OpenDamirIndicators(population=path, table=files["lines"]).fit(lake)
    with (
        sndslab.open_lake(files["lake"]) as lake,
        pytest.raises(PopulationError, match="no population for région '24' in 2019"),
    ):
        SupplyDemand(
            source="opendamir",
            year=2019,
            population=path,
            table=str(files["lines"]),
            practitioners=str(files["practitioners"]),
        ).fit(lake)


def test_region_supply_analysis_recovers_the_slope(files: dict[str, Path]) -> None:
    with sndslab.open_lake(files["lake"]) as lake:
        fit = SupplyDemand(
            source="opendamir",
            year=2019,
            population=str(files["population"]),
            table=str(files["lines"]),
            practitioners=str(files["practitioners"]),
        ).fit(lake)
    assert fit.accounting_["territories"] == 11
    assert fit.accounting_["unknown_region"] == 5
    assert fit.age_controls_ == ["age_share_under_20", "age_share_60_plus"]
    s = fit.slope("density_age")
    assert s["lower"] <= SLOPE <= s["upper"]
    assert s["estimate"] == pytest.approx(SLOPE, abs=0.02)


def test_cli_opendamir_commands(files: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "analyse",
            "opendamir-indicators",
            str(files["lake"]),
            "--table",
            str(files["lines"]),
            "--population",
            str(files["population"]),
            "--out",
            str(tmp_path / "ind"),
        ],
    )
    assert res.exit_code == 0, res.output
    released = pq.read_table(tmp_path / "ind" / "opendamir_indicators.parquet")
    assert {"indicator", "period", "territory", "persons", "std_rate"} <= set(released.column_names)
    assert "2020-04" in released.column("period").to_pylist()
    assert "FR" in released.column("territory").to_pylist()
    audit = (tmp_path / "ind" / "audit.json").read_text()
    assert '"relations": 0' not in audit.split('"opendamir_indicators_its"')[0]
    res = runner.invoke(
        app,
        [
            "analyse",
            "supply-demand",
            str(files["lake"]),
            "--source",
            "opendamir",
            "--year",
            "2019",
            "--table",
            str(files["lines"]),
            "--population",
            str(files["population"]),
            "--practitioners",
            str(files["practitioners"]),
            "--out",
            str(tmp_path / "sd"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "sd" / "figures" / "map.png").is_file()
    res = runner.invoke(
        app,
        [
            "analyse",
            "supply-demand",
            str(files["lake"]),
            "--source",
            "opendamir",
            "--year",
            "2019",
            "--table",
            str(files["lines"]),
            "--out",
            str(tmp_path / "sd2"),
        ],
    )
    assert res.exit_code != 0 and "population file" in res.output
    res = runner.invoke(
        app,
        [
            "analyse",
            "supply-demand",
            str(files["lake"]),
            "--source",
            "opendamir",
            "--year",
            "2019",
            "--table",
            str(files["lines"]),
            "--population",
            str(files["population"]),
            "--out",
            str(tmp_path / "sd3"),
        ],
    )
    assert res.exit_code != 0 and "Open DAMIR has no practitioner count" in res.output


def test_a_month_without_acts_counts_zero(files: dict[str, Path], tmp_path: Path) -> None:
    t = _lines(files)
    gap = t.filter(pc.invert(pc.and_(pc.equal(t["SOI_ANN"], 2019), pc.equal(t["SOI_MOI"], 5))))
    pq.write_table(gap, tmp_path / "gap.parquet")
    with sndslab.open_lake(files["lake"]) as lake:
        fit = OpenDamirIndicators(
            only=["gp_consultations_monthly"],
            population=files["population"],
            table=tmp_path / "gap.parquet",
        ).fit(lake)
    may = [r for r in fit.table_.to_pylist() if r["year"] == 2019 and r["month"] == 5]
    assert len(may) == 12  # 11 régions and France
    assert all(r["numerator"] == 0 and r["rate"] == 0 for r in may)


def test_a_lake_without_open_damir_is_refused(files: dict[str, Path]) -> None:
    refused = pytest.raises(sndslab.errors.InvalidArgumentError, match="ingest Open DAMIR files")
    with sndslab.open_lake(files["lake"]) as lake, refused:
        OpenDamirIndicators(population=files["population"]).fit(lake)


@pytest.mark.parametrize("indicator", ["gp_consultations", "reimbursed_amount"])
def test_acts_of_an_age_band_without_population_stay_in_the_numerator(
    damir: Any, tmp_path: Path, indicator: str
) -> None:
    # a population file without the 80+ band of région 84: its acts are not dropped (they
    # were, silently, for amounts; counts failed without naming the région), the crude rate
    # counts them, the standardised rate is undefined there (NULL), France is complete
    pop = damir.population(years=(2019,))
    lines = damir.lines(years=(2019,), pop=pop)
    rows = [r.model_dump() for r in pop.rows if (r.territory, r.age_band) != ("84", 80)]
    partial = sndslab.supply.PopulationFile.model_validate(
        {"source": "handmade, one band left out", "territory_level": "region", "rows": rows}
    )
    (tmp_path / "population.csv").write_text(partial.to_csv(), encoding="utf-8")
    damir.write(lines, tmp_path / "lines")
    sndslab.open_lake(tmp_path / "lake", create=True).close()
    with sndslab.open_lake(tmp_path / "lake") as lake:
        fitted = OpenDamirIndicators(
            only=[indicator], population=tmp_path / "population.csv", table=tmp_path / "lines"
        ).fit(lake)
    spec = sndslab.supply.load_damir_indicators([indicator])[0]
    mask = pc.equal(lines["BEN_RES_REG"], 84)
    for col, codes in spec.where.items():
        mask = pc.and_(mask, pc.is_in(lines[col], pa.array(codes, lines[col].type)))
    mask = pc.and_(mask, pc.and_(pc.not_equal(lines["AGE_BEN_SNDS"], 99),
                                 pc.is_in(lines["BEN_SEX_COD"], pa.array([1, 2]))))  # fmt: skip
    expected = pc.sum(lines.filter(mask)[spec.measure]).as_py()
    row = next(r for r in fitted.table_.to_pylist() if r["territory"] == "84")
    assert row["numerator"] == pytest.approx(expected)
    assert row["std_rate"] is None and row["rate"] > 0
    fr = next(r for r in fitted.table_.to_pylist() if r["territory"] == "FR")
    assert fr["numerator"] == pytest.approx(fitted.accounting_[indicator]["value_kept"])


def test_lines_without_care_period_or_with_empty_axes_are_accounted(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # files exported without some axes hold them empty: an empty care year / month, age band or
    # sex is an unknown code, counted per rule (it was a TypeError traceback)
    t = _lines(files)
    n = t.num_rows
    for k, col in enumerate(("SOI_ANN", "SOI_MOI", "AGE_BEN_SNDS", "BEN_SEX_COD")):
        values = [None if i % 7 == k else v for i, v in enumerate(t[col].to_pylist())]
        t = t.set_column(t.column_names.index(col), col, pa.array(values, pa.int64()))
    (tmp_path / "lines").mkdir()
    pq.write_table(t, tmp_path / "lines" / "part-0.parquet")
    with sndslab.open_lake(files["lake"]) as lake:
        fit = OpenDamirIndicators(population=files["population"], table=tmp_path / "lines").fit(
            lake
        )
    for name, acc in fit.accounting_.items():
        left_out = sum(acc[f"lines_unknown_{r}"] for r in ("period", "region", "age", "sex"))
        assert acc["lines_kept"] + left_out == acc["lines"], name
        assert acc["lines_unknown_period"] > 0 and acc["lines_unknown_age"] > 0, name
        assert acc["lines_unknown_sex"] > 0, name
    yearly = fit.accounting_["reimbursed_amount"]
    monthly = fit.accounting_["gp_consultations_monthly"]
    assert yearly["lines"] == n
    assert (
        monthly["lines_unknown_period"]
        > fit.accounting_["gp_consultations"]["lines_unknown_period"]
    )  # an empty SOI_MOI is an unknown period for the monthly spec only
    # no care year at all: a clear error naming the missing axis, at the command line too
    none = t.set_column(t.column_names.index("SOI_ANN"), "SOI_ANN", pa.nulls(n, pa.int64()))
    pq.write_table(none, tmp_path / "lines" / "part-0.parquet")
    res = CliRunner().invoke(
        app,
        ["analyse", "opendamir-indicators", str(files["lake"]), "--table",
         str(tmp_path / "lines"), "--population", str(files["population"]),
         "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "error:" in res.output and "SOI_ANN" in res.output
