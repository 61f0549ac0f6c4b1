"""The whole catalogue on the session's synthetic lake (2,000 persons × 2019–2020): every
indicator computes, cells add up along every hierarchy, the grid is complete (empty cells are
zeros), and several indicators equal an independent pandas computation from the events."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sndslab.cli import main
from sndslab.indicators import IndicatorSet, IndicatorsResult, load_indicators
from sndslab.lake import Lake

MEASURES = ("numerator", "numerator_persons", "denominator", "denominator_persons")


@pytest.fixture(scope="module")
def table(opened: Lake) -> pd.DataFrame:
    return opened.table("marts.indicators").to_pandas()


@pytest.fixture(scope="module")
def patients(opened: Lake) -> pd.DataFrame:
    return opened.table("events.patients").to_pandas()


@pytest.fixture(scope="module")
def events(opened: Lake) -> pd.DataFrame:
    df = opened.sql(
        'SELECT person_id, start, "end", code, category, modifier FROM events.events'
    ).to_pandas()
    df["start"] = pd.to_datetime(df["start"])
    df["end"] = pd.to_datetime(df["end"])
    return df


def _eligible(patients: pd.DataFrame, year: int, **f: int) -> pd.DataFrame:
    """Persons covered and alive in ``year`` (pandas), with their age reached in the year."""
    p = patients.dropna(subset=["birth_date", "residence_dpt", "residence_region"]).copy()
    p = p[p["sex"].isin([1, 2]) & ~p["fictitious_nir"].fillna(False).astype(bool)]
    birth = pd.to_datetime(p["birth_date"])
    death = pd.to_datetime(p["death_date"])
    p = p[(birth <= f"{year}-12-31") & (death.isna() | (death >= f"{year}-01-01"))]
    p["age"] = (year - pd.to_datetime(p["birth_date"]).dt.year).clip(lower=0)
    if "min_age" in f:
        p = p[p["age"] >= f["min_age"]]
    if "max_age" in f:
        p = p[p["age"] <= f["max_age"]]
    if "sex" in f:
        p = p[p["sex"] == f["sex"]]
    return p


def _top(table: pd.DataFrame, name: str) -> pd.DataFrame:
    t = table[(table.indicator == name) & (table.geo_level == "france")]
    return t[(t.age_level == "all") & (t.sex == "all")]


def test_every_indicator_computes(
    indicators_lake: tuple[Path, IndicatorsResult], table: pd.DataFrame
) -> None:
    result = indicators_lake[1]
    assert result.data_years == (2019, 2020)
    names = {s.name for s in load_indicators()}
    assert {r.name for r in result.runs} == names == set(table.indicator.unique())
    assert result.rows == len(table)
    for run in result.runs:
        top = _top(table, run.name)
        assert len(top) == len(run.periods) > 0, run.name
        assert (top.denominator > 0).all(), run.name
        if run.name != "hiv":  # the synthetic SNDS has no HIV (see the spec's synthetic_note)
            assert top.numerator.sum() > 0, run.name
    assert table[list(MEASURES)].notna().all().all()
    assert ((table.rate.isna()) == (table.denominator == 0)).all()


def _sums(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return rows.groupby(keys)[list(MEASURES)].sum().sort_index()


def _same(parent: pd.DataFrame, children: pd.DataFrame) -> None:
    """Every parent cell equals the sum of its children (and every parent has children)."""
    parent = parent.sort_index()
    assert parent.index.equals(children.index), "cells without children or orphans"
    assert (parent.to_numpy() == children.to_numpy()).all()


def test_cells_add_up_along_every_hierarchy(table: pd.DataFrame) -> None:
    t = table.assign(month=table.month.fillna(0), region=table.region.fillna(""),
                     age_broad=table.age_broad.fillna(""))  # fmt: skip
    base = ["indicator", "year", "month"]
    age = ["age_level", "age_band"]
    geo = ["geo_level", "geo_code"]
    # départements within their région, régions within France
    dpt = t[t.geo_level == "departement"]
    reg = t[t.geo_level == "region"].assign(region=lambda d: d.geo_code)
    with_dpt = reg[reg.indicator.isin(dpt.indicator.unique())]
    _same(with_dpt.set_index([*base, "region", *age, "sex"])[list(MEASURES)],
          _sums(dpt, [*base, "region", *age, "sex"]))  # fmt: skip
    fr = t[t.geo_level == "france"]
    _same(fr.set_index([*base, *age, "sex"])[list(MEASURES)], _sums(reg, [*base, *age, "sex"]))
    # 5-year bands within their broad band, broad bands within all ages
    five = t[t.age_level == "5y"]
    broad = t[t.age_level == "broad"].assign(age_broad=lambda d: d.age_band)
    _same(broad.set_index([*base, *geo, "age_broad", "sex"])[list(MEASURES)],
          _sums(five, [*base, *geo, "age_broad", "sex"]))  # fmt: skip
    alls = t[(t.age_level == "all") & t.indicator.isin(broad.indicator.unique())]
    _same(alls.set_index([*base, *geo, "sex"])[list(MEASURES)], _sums(broad, [*base, *geo, "sex"]))
    # each sex within both sexes
    sexed = t[t.sex != "all"]
    both = t[(t.sex == "all") & t.indicator.isin(sexed.indicator.unique())]
    _same(both.set_index([*base, *geo, *age])[list(MEASURES)], _sums(sexed, [*base, *geo, *age]))


def test_grid_is_complete_with_zeros(table: pd.DataFrame, patients: pd.DataFrame) -> None:
    d = table[(table.indicator == "diabetes") & (table.year == 2020)]
    n_dpt = patients.residence_dpt.nunique()
    n_reg = patients.residence_region.nunique()
    assert len(d) == (1 + n_reg + n_dpt) * (1 + 6 + 20) * 3
    fine = d[(d.geo_level == "departement") & (d.age_level == "5y") & (d.sex != "all")]
    assert (fine.numerator == 0).sum() > 0.9 * len(fine)  # 2,000 persons: mostly empty cells
    assert ((fine.denominator == 0) & fine.rate.isna()).sum() > 0
    assert ((fine.denominator > 0) & (fine.numerator == 0) & (fine.rate == 0)).sum() > 0
    assert not d.duplicated(["geo_level", "geo_code", "age_level", "age_band", "sex"]).any()


def test_diabetes_equals_pandas(
    table: pd.DataFrame, patients: pd.DataFrame, events: pd.DataFrame
) -> None:
    e = events
    a10 = e[
        (e.category == "dispensing")
        & e.code.str.startswith("ATC//A10")
        & (e.start.dt.year.isin([2019, 2020]))
    ]
    per_year = a10.groupby(["person_id", a10.start.dt.year])["start"].nunique()
    drugs = set(per_year[per_year >= 3].index.get_level_values(0))
    icd = e.code.str.match(r"ICD10//E1[0-4]")
    ald = e[
        icd
        & (e.category == "ald")
        & (e.start <= "2020-12-31")
        & (e["end"].isna() | (e["end"] >= "2020-01-01"))
    ]
    hosp = e[
        icd
        & (e.category == "diagnosis")
        & e.modifier.isin(["DP", "DR", "DAS"])
        & e.start.dt.year.isin([2019, 2020])
    ]
    cases = drugs | set(ald.person_id) | set(hosp.person_id)
    pop = _eligible(patients, 2020)
    pop["case"] = pop.person_id.isin(cases)
    by_region = pop.groupby("residence_region")["case"].agg(["sum", "count"])
    got = table[
        (table.indicator == "diabetes")
        & (table.geo_level == "region")
        & (table.age_level == "all")
        & (table.sex == "all")
    ]
    got = got.set_index("geo_code")[["numerator_persons", "denominator"]]
    assert got.loc[by_region.index, "numerator_persons"].tolist() == by_region["sum"].tolist()
    assert got.loc[by_region.index, "denominator"].tolist() == by_region["count"].tolist()


def test_gp_visits_and_screening_equal_pandas(
    table: pd.DataFrame, patients: pd.DataFrame, events: pd.DataFrame
) -> None:
    e = events
    gp = e[
        (e.category == "visit")
        & e.code.isin(["SPECIALTY//1", "SPECIALTY//22", "SPECIALTY//23"])
        & (e.start.dt.year == 2019)
    ]
    pop = _eligible(patients, 2019)
    gp = gp[gp.person_id.isin(pop.person_id)].merge(
        pop[["person_id", "residence_dpt", "sex"]], on="person_id"
    )
    want = gp.groupby(["residence_dpt", "sex"]).agg(
        n=("person_id", "size"), persons=("person_id", "nunique")
    )
    got = table[
        (table.indicator == "gp_visits")
        & (table.year == 2019)
        & (table.geo_level == "departement")
        & (table.age_level == "all")
        & (table.sex != "all")
    ]
    got = got.assign(sex=got.sex.astype(int)).set_index(["geo_code", "sex"])
    got = got[got.numerator > 0]
    assert sorted(got.index) == sorted(want.index)
    assert (got.loc[want.index, "numerator"].to_numpy() == want.n.to_numpy()).all()
    assert (got.loc[want.index, "numerator_persons"].to_numpy() == want.persons.to_numpy()).all()
    women = _eligible(patients, 2020, sex=2, min_age=50, max_age=74)
    mammo = e[
        (e.category == "act")
        & e.code.isin(["CCAM//QEQK001", "CCAM//QEQK004", "CCAM//QEQK005"])
        & e.start.dt.year.isin([2019, 2020])
    ]
    top = _top(table, "breast_screening_50_74").iloc[0]
    assert top.denominator == len(women)
    assert top.numerator_persons == women.person_id.isin(mammo.person_id).sum()


def test_rehospitalisation_and_mortality_equal_pandas(
    table: pd.DataFrame, patients: pd.DataFrame, events: pd.DataFrame
) -> None:
    e = events
    cmd = e.code.str.extract(r"^GHM//(\d\d)")[0]
    stays = e[(e.category == "stay") & cmd.notna() & cmd.astype(float).between(1, 27)].copy()
    stays["d"] = stays["end"].fillna(stays.start)
    pop = _eligible(patients, 2019)
    idx = stays[(stays.d.dt.year == 2019) & stays.person_id.isin(pop.person_id)]
    merged = idx.reset_index().merge(
        stays[["person_id", "start"]], on="person_id", suffixes=("", "_r")
    )
    hit = merged[(merged.start_r > merged.d) & (merged.start_r <= merged.d + pd.Timedelta(days=30))]
    readmitted = hit["index"].nunique()
    top = _top(table, "rehospitalisation_30d").iloc[0]
    assert (top.denominator, top.numerator) == (len(idx), readmitted)
    assert top.numerator_persons == hit.person_id.nunique()
    for year in (2019, 2020):
        alive = _eligible(patients, year)
        died = pd.to_datetime(alive.death_date).dt.year == year
        m = _top(table, "mortality").set_index("year").loc[year]
        assert (m.numerator_persons, m.denominator) == (died.sum(), len(alive))


def test_density_counts_practitioners(opened: Lake, table: pd.DataFrame) -> None:
    prac = opened.table("int.practitioners").to_pandas()
    gps = prac[prac.PFS_PRA_SPE.isin(["1", "22", "23"])]
    top = _top(table, "density_gp").set_index("year")
    assert (top.numerator == gps.PFS_PFS_NUM.nunique()).all()
    assert top.loc[2020, "rate"] == pytest.approx(len(gps) * 1e5 / top.loc[2020, "denominator"])


def test_monthly_series_and_season(table: pd.DataFrame) -> None:
    gp = _top(table, "gp_visits_monthly")
    assert sorted(zip(gp.year, gp.month, strict=True)) == [
        (y, m) for y in (2019, 2020) for m in range(1, 13)
    ]
    april = gp.set_index(["year", "month"]).rate
    assert april[(2020, 4)] < 0.85 * april[(2019, 4)]  # the first lockdown (GP visits -35 %)
    flu = _top(table, "influenza_vaccination_65")
    assert flu.year.tolist() == [2019]  # the 2019-20 season only (2020-21 ends after the data)
    assert str(flu.period_start.iloc[0]) == "2019-07-01"
    assert 30 < flu.rate.iloc[0] < 75  # injected uptake 50-60 % by season


def test_indicator_set_is_the_same_computation(opened: Lake, table: pd.DataFrame) -> None:
    fitted = IndicatorSet(only=["mortality", "density_gp"], years=[2020]).fit(opened)
    got = fitted.summary().to_pandas()
    want = table[table.indicator.isin(["mortality", "density_gp"]) & (table.year == 2020)]
    key = ["indicator", "geo_level", "geo_code", "age_level", "age_band", "sex"]
    got, want = (
        got.sort_values(key).reset_index(drop=True),
        want.sort_values(key).reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    cand = fitted.to_release()
    assert cand.count_column == "numerator_persons" and "rate" in cand.measures


def test_cli(
    indicators_lake: tuple[Path, IndicatorsResult],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(indicators_lake[0], lake)
    assert main(["indicators", str(lake), "--only", "mortality", "--years", "2020"]) == 0
    assert "mortality" in capsys.readouterr().out
    assert main(["indicators", str(lake), "--only", "nope"]) == 1
    assert "error: unknown indicator(s) ['nope']" in capsys.readouterr().err
    assert main(["indicators", str(lake), "--years", "2015"]) == 2
    assert "outside the lake's data years 2019-2020" in capsys.readouterr().err
    assert main(["indicators", str(tmp_path / "nolake")]) == 2
