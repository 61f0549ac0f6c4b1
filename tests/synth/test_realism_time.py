"""Calendar time in the synthetic extract: seasons, flu campaigns, the 2020 lockdown,
teleconsultation and COVID-19 (issue 10, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from sndslab.synth._calendar import PROFILES, DayIntensity, build_calendar
from sndslab.synth._ids import day_of

GP_NATS = "(1111, 1211, 1191)"
_PRS = (
    "SELECT strptime(EXE_SOI_DTD, '%d/%m/%Y') AS d, PRS_NAT_REF::INT AS nat FROM ER_PRS_F "
    "WHERE coalesce(TRY_CAST(DPN_QLF AS INT), 0) <> 71 AND TRY_CAST(PRS_ACT_QTE AS DOUBLE) > 0"
)


def _manifest(extract: Path) -> dict:
    return json.loads((extract / "truth" / "manifest.json").read_text())


def _count(db: duckdb.DuckDBPyConnection, nats: str, month: str) -> int:
    row = db.execute(
        f"SELECT count(*) FROM ({_PRS}) WHERE nat IN {nats} AND strftime(d, '%Y-%m') = ?",
        [month],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_intensity_averages_one_over_a_normal_year() -> None:
    cal = build_calendar(11, 2019, 2021)
    for kind in PROFILES:
        assert cal.yearly_mean(kind, 2019) == pytest.approx(1.0, abs=1e-9), kind
    # 2020 lower for the care that dropped in the lockdown, higher for hospital at home
    assert cal.yearly_mean("gp", 2020) < 0.97
    assert cal.yearly_mean("physio", 2020) < 0.93
    assert cal.yearly_mean("had", 2020) > 1.0


def test_day_sampler_follows_the_intensity() -> None:
    first = day_of(2019, 1, 1)
    values = np.ones(365)
    values[31:59] = 3.0  # February three times as intense
    curve = DayIntensity.of(first, values)
    rng = np.random.default_rng(1)
    n = 20_000
    start = np.full(n, first, np.int64)
    end = np.full(n, first + 364, np.int64)
    _, day = curve.poisson_days(rng, np.full(n, 4.0), start, end)
    expected = 4.0 * values.sum() / 365.25 * n
    assert abs(len(day) - expected) < 4 * np.sqrt(expected)
    feb = ((day >= first + 31) & (day < first + 59)).mean()
    assert feb == pytest.approx(3 * 28 / values.sum(), rel=0.05)
    # windows are respected
    s2 = np.full(n, first + 100, np.int64)
    _, d2 = curve.poisson_days(rng, np.full(n, 4.0), s2, s2 + 9)
    assert d2.min() >= first + 100 and d2.max() <= first + 109


def test_gp_visits_dip_in_april_2020(db: duckdb.DuckDBPyConnection) -> None:
    before, during = _count(db, GP_NATS, "2019-04"), _count(db, GP_NATS, "2020-04")
    assert during < 0.8 * before, (before, during)
    # physiotherapy and specialists fell much more than GP visits
    assert _count(db, "(3122)", "2020-04") < 0.4 * _count(db, "(3122)", "2019-04")
    assert _count(db, "(1112)", "2020-04") < 0.6 * _count(db, "(1112)", "2019-04")
    # partial catch-up in June 2020
    assert _count(db, "(1112)", "2020-06") > _count(db, "(1112)", "2019-06")


def test_winter_peak_of_respiratory_care(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    epidemics = _manifest(extract)["calendar"]["respiratory_epidemics"]
    peak = next(e for e in epidemics if e["season"] == "2018-2019")["peak"][:7]
    assert _count(db, GP_NATS, peak) > 1.15 * _count(db, GP_NATS, "2019-09")
    antibiotics = db.execute(
        "SELECT strftime(strptime(p.EXE_SOI_DTD, '%d/%m/%Y'), '%m') AS m, count(*) "
        "FROM ER_PHA_F h JOIN ER_PRS_F p USING (DCT_ORD_NUM, FLX_DIS_DTD, FLX_EMT_NUM, "
        "FLX_EMT_ORD, FLX_EMT_TYP, FLX_TRT_DTD, ORG_CLE_NUM, PRS_ORD_NUM, REM_TYP_AFF) "
        "JOIN IR_PHA_R r ON r.PHA_CIP_C13 = h.PHA_PRS_C13 "
        "WHERE r.PHA_ATC_C07 LIKE 'J01%' AND p.EXE_SOI_DTD LIKE '%/2019' GROUP BY m"
    ).fetchall()
    by_month = dict(antibiotics)
    winter = by_month.get("01", 0) + by_month.get("02", 0) + by_month.get("03", 0)
    summer = by_month.get("07", 0) + by_month.get("08", 0) + by_month.get("09", 0)
    assert winter > 1.3 * summer, by_month


def test_flu_vaccines_only_during_campaigns(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    rows = db.execute(
        "SELECT strptime(p.EXE_SOI_DTD, '%d/%m/%Y') AS d, TRY_CAST(p.PRS_ACT_QTE AS DOUBLE) q "
        "FROM ER_PHA_F h JOIN ER_PRS_F p USING (DCT_ORD_NUM, FLX_DIS_DTD, FLX_EMT_NUM, "
        "FLX_EMT_ORD, FLX_EMT_TYP, FLX_TRT_DTD, ORG_CLE_NUM, PRS_ORD_NUM, REM_TYP_AFF) "
        "JOIN IR_PHA_R r ON r.PHA_CIP_C13 = h.PHA_PRS_C13 WHERE r.PHA_ATC_C07 LIKE 'J07BB%' "
        "AND q > 0 AND d IS NOT NULL"
    ).fetchall()
    months = np.array([d.month for d, _ in rows])
    assert len(months) > 500
    in_campaign = np.isin(months, [10, 11, 12, 1, 2])
    assert in_campaign.mean() > 0.995, np.bincount(months)
    assert np.isin(months, [10, 11, 12, 1]).mean() > 0.98
    counts = _manifest(extract)["counts"]
    injected = counts["calendar.flu_vaccine_dispensings.2019"]
    assert abs((np.array([d.year for d, _ in rows]) == 2019).sum() - injected) < 0.03 * injected
    # about half of persons aged 65+ are vaccinated in the 2019-20 campaign
    campaign = next(
        c
        for c in _manifest(extract)["calendar"]["influenza_vaccination"]["campaigns"]
        if c["season"] == "2019-2020"
    )
    assert 0.45 <= campaign["uptake_65_plus"] <= 0.6


def test_teleconsultation_takes_off_in_2020(db: duckdb.DuckDBPyConnection) -> None:
    def share(period: str) -> float:
        row = db.execute(
            f"SELECT avg((nat = 1191)::INT) FROM ({_PRS}) WHERE nat IN {GP_NATS} "
            "AND strftime(d, '%Y-%m') LIKE ?",
            [period],
        ).fetchone()
        assert row is not None
        return float(row[0])

    assert share("2019-%") < 0.005
    assert 0.18 <= share("2020-04") <= 0.35
    assert 0.02 <= share("2020-09") <= 0.08


def test_covid_stays_from_march_2020(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    rows = db.execute(
        "SELECT strptime(c.EXE_SOI_DTD, '%d%b%Y:%H:%M:%S') AS d, b.SOR_MOD FROM T_MCOaaB b "
        "JOIN T_MCOaaC c USING (ETA_NUM, RSA_NUM) WHERE b.DGN_PAL = 'U071'"
    ).fetchall()
    assert len(rows) > 20
    assert min(d for d, _ in rows).date().isoformat() >= "2020-03-01"
    assert any(mode == "9" for _, mode in rows)  # some patients die in the stay
    counts = _manifest(extract)["counts"]
    assert len(rows) == counts["calendar.covid_stays.2020"]
    assert counts["calendar.covid_stays.2019"] == 0


def test_covid_deaths_present_and_elderly(db: duckdb.DuckDBPyConnection, extract: Path) -> None:
    rows = db.execute(
        "SELECT BEN_DCD_DTE, BEN_NAI_ANN::INT FROM KI_CCI_R WHERE DCD_CIM_COD = 'U071'"
    ).fetchall()
    counts = _manifest(extract)["counts"]
    assert len(rows) == counts["calendar.covid_deaths.2020"] > 0
    assert all(date.endswith("2020") for date, _ in rows)
    ages = np.array([2020 - born for _, born in rows])
    assert (ages >= 65).mean() >= 0.75
    # order of magnitude: about 1 COVID death per 1,000 persons in 2020 (5 to 25 at 10,000)
    assert 3 <= len(rows) <= 30
    events = db.execute("SELECT count(*) FROM truth_covid_events WHERE death").fetchone()
    assert events is not None and events[0] >= len(rows)


def test_calendar_in_the_manifest(extract: Path) -> None:
    cal = _manifest(extract)["calendar"]
    assert cal["lockdowns"]["first"] == {
        "start": "2020-03-17",
        "end": "2020-05-10",
        "decline_from": "2020-03-09",
    }
    assert cal["care_types"]["gp"]["first_lockdown_change"] < -0.25
    assert [e["season"] for e in cal["respiratory_epidemics"]][:2] == ["2018-2019", "2019-2020"]
    assert cal["covid19"]["waves"][0]["start"] == "2020-03-01"
    tele = cal["teleconsultation_share_of_gp_visits"]["monthly_mean"]
    assert tele["2019"][0] < 0.01 < 0.2 < tele["2020"][3]
