"""Re-identification risk on hand-made populations whose equivalence classes, k and least-loss
coarsening are known, checked against a plain-Python oracle."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import date

import pyarrow as pa
import pytest

from sndslab.errors import SndslabError
from sndslab.release import (
    HIERARCHIES,
    SECURE_SPACE_NOTICE,
    RiskError,
    RiskSourceError,
    risk_report,
)
from sndslab.release._risk_qi import (
    LAKE_STAY,
    MEDS_ADMISSION,
    MEDS_BIRTH,
    MEDS_DEATH,
    OMOP_STAY_VISITS,
)


def _one(t: pa.Table, attrs: tuple[str, ...], k: int = 11, **kw: float):  # type: ignore[no-untyped-def]
    return risk_report(t, k=k, combinations={"c": attrs}, **kw).combinations[0]


def test_known_classes() -> None:
    # classes (1950, 1): 3 persons, (1950, 2): 2, (1951, 1): 1, (1960, 2): 1
    t = pa.table(
        {
            "birth_year": [1950, 1950, 1950, 1950, 1950, 1951, 1960],
            "sex": ["1", "1", "1", "2", "2", "1", "2"],
        }
    )
    c = _one(t, ("birth_year", "sex"), k=3)
    m = c.finest
    assert (m.persons, m.classes, m.k, m.unique, m.at_risk) == (7, 4, 1, 2, 4)
    assert m.k_distribution == {"1": 2, "2": 2, "3-4": 3, "5-10": 0, "11-19": 0, "20+": 0}
    assert m.discernibility == 9 + 4 + 1 + 1
    risks = m.risks()
    assert risks["prosecutor"]["max_risk"] == 1.0
    assert risks["prosecutor"]["average_risk"] == pytest.approx(4 / 7)
    assert risks["prosecutor"]["records_at_risk_share"] == pytest.approx(4 / 7)
    assert risks["journalist"] == risks["prosecutor"]
    assert m.unique_share == pytest.approx(2 / 7)


def test_coarsening_age_bands() -> None:
    # ten persons born 1950..1959, all men: year → 5-year bands gives two classes of 5
    t = pa.table({"birth_year": list(range(1950, 1960)), "sex": ["1"] * 10})
    c = _one(t, ("birth_year", "sex"), k=5)
    assert c.finest.unique == 10
    assert c.chosen is not None
    assert c.chosen.levels == {"birth_year": "5-year band", "sex": "sex"}
    assert c.chosen.metrics.k == 5 and c.chosen.metrics.classes == 2
    # the path goes one level at a time from the finest node to the chosen one
    assert [p.levels["birth_year"] for p in c.path] == ["year", "5-year band"]
    c10 = _one(t, ("birth_year", "sex"), k=10)
    assert c10.chosen is not None
    assert c10.chosen.levels == {"birth_year": "10-year band", "sex": "sex"}
    # sex suppressed (loss 1/2) would be worse than birth_year one level up (loss 1/8)
    assert c10.chosen.loss == pytest.approx((2 / 4) / 2)


def test_coarsening_residence_and_dates() -> None:
    # 4 persons in two départements of one région, stays in the same month on different days
    t = pa.table(
        {
            "birth_year": [1970] * 4,
            "dpt": ["75", "75", "92", "92"],
            "region": ["11"] * 4,
            "stays": [[date(2020, 3, d)] for d in (2, 9, 16, 23)],
        }
    )
    c = _one(t, ("birth_year", "residence", "first_stay"), k=4)
    assert c.finest.unique == 4
    assert c.chosen is not None
    assert c.chosen.levels == {
        "birth_year": "year",
        "residence": "région",
        "first_stay": "month",
    }
    assert c.chosen.metrics.k == 4
    # the MEDS-like set of every stay date behaves the same
    s = _one(t, ("residence", "stay_dates"), k=4)
    assert s.chosen is not None and s.chosen.levels == {
        "residence": "région",
        "stay_dates": "month",
    }


def test_rare_codes_top_coded() -> None:
    # code X is held by 1 person (rare at k=3), Y by 4 (not rare): the rare-code set makes
    # one person unique; its count top-coded still does; suppressed does not
    t = pa.table({"birth_year": [1980] * 4, "codes": [["X", "Y"], ["Y"], ["Y"], ["Y"]]})
    c = _one(t, ("birth_year", "rare_codes"), k=3)
    assert c.finest.unique == 1 and c.finest.k == 1
    assert c.chosen is not None
    assert c.chosen.levels == {"birth_year": "year", "rare_codes": "suppressed"}
    assert c.chosen.metrics.k == 4
    # allowing 25 % of persons to be suppressed keeps the rare codes
    s = _one(t, ("birth_year", "rare_codes"), k=3, max_suppressed=0.25)
    assert s.chosen is not None
    assert s.chosen.levels == {"birth_year": "year", "rare_codes": "codes"}


def test_pooled_extreme_ages() -> None:
    # reference year 2020 (latest stay): born ≤ 1939 pooled ("before 1940"), ≥ 2010 pooled
    years = [1921, 1935, 1938, 1952, 1955, 1958, 2011, 2015, 2020]
    t = pa.table({"birth_year": years, "stays": [[date(2020, 1, 1)]] + [[]] * (len(years) - 1)})
    c = _one(t, ("birth_year",), k=3)
    assert c.chosen is not None
    assert c.chosen.levels == {"birth_year": "10-year band, <10 and 90+ pooled"}
    assert c.chosen.metrics.classes == 3 and c.chosen.metrics.k == 3


def test_unreachable_target() -> None:
    t = pa.table({"birth_year": [1950, 1960], "sex": ["1", "2"]})
    c = _one(t, ("birth_year", "sex"), k=11)
    assert c.chosen is None and c.path == [] and c.minimal == []
    assert c.evaluated == c.lattice_nodes == 5 * 2
    assert (
        "No generalisation reaches k = 11"
        in risk_report(t, combinations={"c": ("birth_year", "sex")}).to_markdown()
    )


def _oracle(rows: list[tuple[int, str, str, str]], node: tuple[int, int, int]) -> int:
    """k of (birth_year, sex, residence) at ``node``, in plain Python."""
    ref = max(r[0] for r in rows)

    def gen(r: tuple[int, str, str, str]) -> tuple[object, ...]:
        y, s, d, g = r
        b = node[0]
        old, young = ref - 90 - (ref - 90) % 10, ref - 10 - (ref - 10) % 10
        year = [y, y - y % 5, y - y % 10, min(max(y - y % 10, old), young), None][b]
        return (year, [s, None][node[1]], [d, g, None][node[2]])

    return min(Counter(gen(r) for r in rows).values())


def test_search_is_optimal_against_oracle() -> None:
    rows = [(1950 + (i * 7) % 23, "12"[i % 2], f"{i % 6:02d}", "AB"[i % 6 // 3]) for i in range(60)]
    t = pa.table(
        {
            "birth_year": [r[0] for r in rows],
            "sex": [r[1] for r in rows],
            "dpt": [r[2] for r in rows],
            "region": [r[3] for r in rows],
        }
    )
    attrs = ("birth_year", "sex", "residence")
    c = _one(t, attrs, k=6)
    heights = [len(HIERARCHIES[a]) - 1 for a in attrs]
    nodes = list(itertools.product(*(range(h + 1) for h in heights)))
    ok = {n for n in nodes if _oracle(rows, n) >= 6}  # type: ignore[arg-type]
    names = [{a: HIERARCHIES[a][lv][0] for a, lv in zip(attrs, n, strict=True)} for n in nodes]
    minimal = [
        names[i]
        for i, n in enumerate(nodes)
        if n in ok and not any((*n[:j], n[j] - 1, *n[j + 1 :]) in ok for j in range(3) if n[j] > 0)
    ]
    assert sorted(map(str, c.minimal)) == sorted(map(str, minimal))
    best = min(sum(lv / h for lv, h in zip(n, heights, strict=True)) / 3 for n in ok)
    assert c.chosen is not None and c.chosen.loss == pytest.approx(best)
    assert c.finest.k == _oracle(rows, (0, 0, 0))
    # pruning: nodes above a satisfied node are never evaluated
    assert c.evaluated < c.lattice_nodes
    # k never decreases along the path
    ks = [p.metrics.k for p in c.path]
    assert ks == sorted(ks)


def test_report_holds_counts_only() -> None:
    t = pa.table(
        {
            "birth_year": [1931, 1932, 1933],
            "sex": ["1", "2", "1"],
            "dpt": ["2A", "2B", "971"],
            "region": ["94", "94", "01"],
            "stays": [[date(2019, 5, 17)], [], []],
            "codes": [["ICD10//Q878"], ["ATC//L04AX07"], []],
        }
    )
    r = risk_report(t, k=2)
    text = r.to_json() + r.to_markdown()
    for value in ("1931", "2A", "971", "2019-05", "Q878", "L04AX07"):
        assert value not in text
    d = json.loads(r.to_json())
    assert d["notice"] == SECURE_SPACE_NOTICE and SECURE_SPACE_NOTICE in r.to_markdown()
    assert len(r.to_json()) < 100_000
    assert {c["name"] for c in d["combinations"]} == {
        "birth year, sex, residence",
        "+ first stay date",
        "+ first stay date + rare codes",
        "+ all stay dates",
    }


def test_missing_attributes_are_reported() -> None:
    t = pa.table({"birth_year": [1950, 1951]})
    r = risk_report(t, k=1)
    assert r.available["sex"] is False and r.available["birth_year"] is True
    c = r.combinations[0]
    assert c.attributes == ("birth_year",) and c.missing == ("sex", "residence")


def test_bad_requests() -> None:
    t = pa.table({"birth_year": [1950]})
    with pytest.raises(RiskError, match="unknown attribute"):
        risk_report(t, combinations={"x": ("zip_code",)})
    with pytest.raises(RiskError, match="k must be"):
        risk_report(t, k=0)
    with pytest.raises(RiskError, match="max_suppressed"):
        risk_report(t, max_suppressed=1.0)
    with pytest.raises(RiskSourceError, match="not a MEDS export"):
        risk_report("/nonexistent-dir")
    assert issubclass(RiskSourceError, SndslabError) and issubclass(RiskError, SndslabError)


def test_format_constants_match_the_exports() -> None:
    """The release layer cannot import the events layer: its copies of the format strings
    must agree with the exporters."""
    from sndslab.events._meds import ADMISSION, BIRTH, DEATH
    from sndslab.events._omop import HOME_VISIT, INPATIENT_VISIT
    from sndslab.events._schema import Category

    assert (MEDS_ADMISSION, MEDS_BIRTH, MEDS_DEATH) == (ADMISSION, BIRTH, DEATH)
    assert set(OMOP_STAY_VISITS) == {INPATIENT_VISIT, HOME_VISIT}
    assert Category.STAY.value == LAKE_STAY


def test_journalist_risk_against_a_population() -> None:
    # population: 10 persons, (1950, 1) x4, (1950, 2) x3, (1960, 1) x2, (1970, 2) x1
    pop = pa.table(
        {
            "birth_year": [1950] * 7 + [1960] * 2 + [1970],
            "sex": ["1"] * 4 + ["2"] * 3 + ["1"] * 2 + ["2"],
        }
    )
    # sample: one of each class but the last, plus one person absent from the population
    sample = pa.table({"birth_year": [1950, 1950, 1960, 1980], "sex": ["1", "2", "1", "1"]})
    r = risk_report(sample, k=3, combinations={"c": ("birth_year", "sex")}, population=pop)
    c = r.combinations[0]
    # prosecutor: every sample class has one person
    assert c.finest.k == 1 and c.finest.unique == 4
    j = c.finest.risks()["journalist"]
    # F = 4, 3, 2 and 1 (unmatched: its own size)
    assert j["population_k"] == 1 and j["unmatched"] == 1
    assert j["average_risk"] == pytest.approx((1 / 4 + 1 / 3 + 1 / 2 + 1) / 4)
    assert j["records_at_risk_share"] == pytest.approx(2 / 4)
    assert j["max_risk"] == 1.0
    assert r.population == "<arrow table>"
    md = r.to_markdown()
    assert "journalist model" in md and "Journalist risk (finest)" in md
    # without a population, the journalist risk is the prosecutor risk
    alone = risk_report(sample, k=3, combinations={"c": ("birth_year", "sex")}).combinations[0]
    assert alone.finest.risks()["journalist"] == alone.finest.risks()["prosecutor"]
