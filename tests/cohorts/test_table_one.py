"""Table 1: the standardised mean differences against hand computations (Austin 2009), and the
engine's Table 1 of two cohorts of the synthetic lake against pandas on the same persons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sndslab.cohorts import (
    ComparisonSpec,
    build_cohort,
    load_comparison,
    smd_binary,
    smd_categorical,
    smd_continuous,
    table_one,
    table_one_tables,
)
from sndslab.lake import Lake, relation


def test_smd_continuous_by_hand() -> None:
    # group 1: 70, 72, 80, 90 -> mean 78, sample variance (64 + 36 + 4 + 144) / 3 = 82.667
    # group 2: 66, 68, 75     -> mean 69.667, sample variance (13.444 + 2.778 + 28.444) / 2
    # = 22.333; SMD = 8.333 / sqrt((82.667 + 22.333) / 2) = 8.333 / 7.2457 = 1.1501
    a, b = np.array([70, 72, 80, 90.0]), np.array([66, 68, 75.0])
    var_a, var_b = 248 / 3, (44 + 2 / 3) / 2
    want = (78 - 209 / 3) / math.sqrt((var_a + var_b) / 2)
    got = smd_continuous(a.mean(), a.std(ddof=1), b.mean(), b.std(ddof=1))
    assert got == pytest.approx(want, rel=1e-12)
    assert got == pytest.approx(1.1501, abs=1e-4)


def test_smd_binary_by_hand() -> None:
    # 30 % vs 20 %: 0.1 / sqrt((0.21 + 0.16) / 2) = 0.1 / sqrt(0.185)
    assert smd_binary(0.3, 0.2) == pytest.approx(0.1 / math.sqrt(0.185), rel=1e-12)
    assert smd_binary(0.5, 0.5) == 0.0
    assert smd_binary(0.0, 0.0) == 0.0
    assert math.isnan(smd_binary(0.0, 1.0))


def test_smd_categorical_by_hand() -> None:
    # three levels, reference the first: T = (0.3, 0.2), C = (0.2, 0.5) over levels 2 and 3
    t, c = np.array([0.3, 0.2]), np.array([0.2, 0.5])
    s = (np.array([[0.21, -0.06], [-0.06, 0.16]]) + np.array([[0.16, -0.10], [-0.10, 0.25]])) / 2
    d = t - c
    want = math.sqrt(d @ np.linalg.inv(s) @ d)
    assert smd_categorical([0.5, 0.3, 0.2], [0.3, 0.2, 0.5]) == pytest.approx(want, rel=1e-12)
    # two levels reduce to the absolute binary SMD
    assert smd_categorical([0.7, 0.3], [0.8, 0.2]) == pytest.approx(abs(smd_binary(0.3, 0.2)))
    # the reference level does not change the distance
    assert smd_categorical([0.3, 0.2, 0.5], [0.2, 0.5, 0.3]) == pytest.approx(
        smd_categorical([0.5, 0.3, 0.2], [0.3, 0.2, 0.5]), rel=1e-9
    )


def _age(birth: pd.Series, day: pd.Series) -> pd.Series:
    before = (day.dt.month * 100 + day.dt.day) < (birth.dt.month * 100 + birth.dt.day)
    return day.dt.year - birth.dt.year - before.astype(int)


def test_table_one_matches_pandas(opened: Lake) -> None:
    comparison = ComparisonSpec.model_validate(
        {
            "name": "cmp",
            "groups": ["population_65_plus", "hip_fracture_65_plus"],
            "concept_sets": {"antidepressants": {"code_set": "antidepressants"}},
            "characteristics": [
                {"name": "antidepressant", "concept_set": "antidepressants", "window": [-365, 0]}
            ],
        }
    )
    groups = {s.name: build_cohort(opened, s) for s in comparison.group_specs()}
    t1 = table_one(opened, comparison, groups)
    pat = opened.con.sql(
        f"SELECT * FROM {relation(opened.con, opened.paths, 'events.patients')}"
    ).to_pandas()
    ev = relation(opened.con, opened.paths, "events.events")
    ad = opened.con.sql(
        f"SELECT person_id, start FROM {ev} WHERE code LIKE 'ATC//N06A%'"
    ).to_pandas()
    ald = opened.con.sql(
        f"SELECT person_id, start, \"end\" FROM {ev} WHERE category = 'ald'"
    ).to_pandas()
    rows = t1.rows.to_pandas()
    smd = t1.smd.to_pandas().set_index("variable")["smd"]
    per_group = {}
    for name, result in groups.items():
        df = result.table.to_pandas().merge(pat, on="person_id")
        df["age"] = _age(pd.to_datetime(df["birth_date"]), pd.to_datetime(df["index_date"]))
        hits = df.merge(ad, on="person_id")
        lag = (pd.to_datetime(hits["start"]) - pd.to_datetime(hits["index_date"])).dt.days
        users = set(hits.loc[(lag >= -365) & (lag <= 0), "person_id"])
        df["antidepressant"] = df["person_id"].isin(users)
        a = df.merge(ald, on="person_id")
        idx, start = pd.to_datetime(a["index_date"]), pd.to_datetime(a["start"])
        end = pd.to_datetime(a["end"])
        in_force = set(a.loc[(start <= idx) & (end.isna() | (end >= idx)), "person_id"])
        df["ald"] = df["person_id"].isin(in_force)
        per_group[name] = df
        mine = rows[rows["group"] == name]
        age = mine[mine["variable"] == "age"].iloc[0]
        assert age["mean"] == pytest.approx(df["age"].mean(), rel=1e-12)
        assert age["sd"] == pytest.approx(df["age"].std(ddof=1), rel=1e-9)
        female = mine[(mine["variable"] == "sex") & (mine["level"] == "2")].iloc[0]
        assert female["persons"] == (df["sex"] == 2).sum()
        flag = mine[mine["variable"] == "antidepressant"].iloc[0]
        assert flag["persons"] == df["antidepressant"].sum()
        got_ald = mine[mine["variable"] == "ALD in force at index"].iloc[0]
        assert got_ald["persons"] == df["ald"].sum()
        regions = mine[mine["variable"] == "région"].set_index("level")["persons"].to_dict()
        assert {k: v for k, v in regions.items() if v} == (
            df["residence_region"].value_counts().to_dict()
        )
    a, b = per_group["population_65_plus"], per_group["hip_fracture_65_plus"]
    want_age = (b["age"].mean() - a["age"].mean()) / math.sqrt(
        (b["age"].var(ddof=1) + a["age"].var(ddof=1)) / 2
    )
    assert smd["age"] == pytest.approx(want_age, rel=1e-9)
    pb, pa_ = (b["sex"] == 1).mean(), (a["sex"] == 1).mean()
    want_sex = abs(pb - pa_) / math.sqrt((pb * (1 - pb) + pa_ * (1 - pa_)) / 2)
    assert smd["sex"] == pytest.approx(want_sex, rel=1e-9)
    pb, pa_ = b["antidepressant"].mean(), a["antidepressant"].mean()
    assert smd["antidepressant"] == pytest.approx(smd_binary(pb, pa_), rel=1e-9)
    md = t1.to_markdown()
    assert "| age |" in md and "SMD hip_fracture_65_plus vs population_65_plus" in md
    # the release tables: one per variable, each level partitioning its group
    for table, spec in table_one_tables(t1, "cmp"):
        data = table.to_pylist()
        for g in t1.groups:
            total = next(r["persons"] for r in data if r["group"] == g and r["level"] == "all")
            parts = [r["persons"] for r in data if r["group"] == g and r["level"] != "all"]
            assert total == t1.group_persons[g]
            assert not parts or sum(parts) == total, spec.stem
    for r in groups.values():
        r.drop()


def test_builtin_comparison_loads_its_groups() -> None:
    spec = load_comparison("benzodiazepines_vs_zdrugs")
    assert [g.name for g in spec.group_specs()] == list(spec.groups)
