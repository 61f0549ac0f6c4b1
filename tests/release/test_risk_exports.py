"""The risk report on the MEDS and OMOP exports (and the lake) of the session's synthetic
extract (2,000 persons × 2019–2020): sane shares, the same classes from every source, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from sndslab.cli import app
from sndslab.events import extract_events, to_meds, to_omop
from sndslab.release import SECURE_SPACE_NOTICE, RiskReport, risk_report

STAYS = {
    "birth year": ("birth_year",),
    "birth year + stay dates (day)": ("birth_year", "stay_dates"),
    "birth year + first stay (day)": ("birth_year", "first_stay"),
}


@pytest.fixture(scope="module")
def risk_sources(
    ingested_synth: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """A copy of the session lake with events, and its MEDS and OMOP exports."""
    root = tmp_path_factory.mktemp("risk")
    lake = root / "lake"
    shutil.copytree(ingested_synth[1], lake)
    extract_events(lake)
    meds = Path(to_meds(lake, root / "meds", salt="risk"))
    to_omop(lake, root / "omop", salt="risk")
    return {"lake": lake, "meds": meds, "omop": root / "omop"}


@pytest.fixture(scope="module")
def reports(risk_sources: dict[str, Path]) -> dict[str, RiskReport]:
    return {
        name: risk_report(
            path,
            combinations={
                **STAYS,
                "demographics": ("birth_year", "sex", "residence"),
                "sex": ("birth_year", "sex"),
            },
        )
        for name, path in risk_sources.items()
    }


def _c(report: RiskReport, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in report.combinations if c.name == name)


def test_sources_detected(reports: dict[str, RiskReport]) -> None:
    assert {n: r.kind for n, r in reports.items()} == {n: n for n in reports}
    # what each export carries
    assert reports["meds"].available["sex"] is False
    assert reports["meds"].available["residence"] is False
    assert reports["omop"].available["sex"] is True
    assert reports["omop"].available["residence"] is False
    assert all(reports["lake"].available.values())
    assert reports["lake"].persons > 1900


def test_exact_stay_dates_single_out_almost_every_patient(
    reports: dict[str, RiskReport], risk_sources: dict[str, Path]
) -> None:
    (with_stay,) = duckdb.sql(
        f"""SELECT count(DISTINCT subject_id)
        FROM '{risk_sources["meds"]}/data/*.parquet'
        WHERE code LIKE 'HOSPITAL_ADMISSION//%'"""
    ).fetchall()[0]
    assert with_stay > 300
    for name in ("meds", "omop", "lake"):
        days = _c(reports[name], "birth year + stay dates (day)").finest
        year = _c(reports[name], "birth year").finest
        # persons with a stay: almost all unique with their birth year and stay days
        assert days.unique >= 0.85 * with_stay, name
        # birth year alone singles out almost nobody
        assert year.unique_share < 0.01, name
        assert days.unique > 50 * max(year.unique, 1), name


def test_every_source_gives_the_same_classes(reports: dict[str, RiskReport]) -> None:
    """Birth year and stay dates come from the same events through three routes."""
    for name in STAYS:
        got = {s: _c(reports[s], name).finest for s in ("meds", "omop", "lake")}
        assert got["meds"] == got["omop"] == got["lake"], name
    # sex from OMOP and the lake agree as well (OMOP has no residence: left out)
    assert _c(reports["omop"], "demographics").finest == _c(reports["lake"], "sex").finest


def test_demographics_and_coarsening(reports: dict[str, RiskReport]) -> None:
    lake = _c(reports["lake"], "demographics")
    # birth year, sex and département: most of a 2,000-person extract is unique
    assert lake.finest.unique_share > 0.5
    for report in reports.values():
        for c in report.combinations:
            assert c.chosen is not None, (report.kind, c.name)
            assert c.chosen.metrics.k >= 11
            ks = [p.metrics.k for p in c.path]
            assert ks == sorted(ks) and ks[-1] == c.chosen.metrics.k
            uniques = [p.metrics.unique for p in c.path]
            assert uniques == sorted(uniques, reverse=True)
            assert c.chosen.metrics.unique == 0


def test_cli_writes_json_and_markdown(risk_sources: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["risk", str(risk_sources["omop"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["source_kind"] == "omop" and d["target_k"] == 11
    assert d["notice"] == SECURE_SPACE_NOTICE
    assert out.stat().st_size < 200_000
    md = tmp_path / "r.md"
    res = runner.invoke(app, ["risk", str(risk_sources["meds"]), "--k", "20", "--out", str(md)])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert text.startswith("# Re-identification risk report") and "target k: 20" in text
    bad = runner.invoke(app, ["risk", str(tmp_path)])
    assert bad.exit_code != 0
    assert "not a MEDS export, an OMOP export nor a lake" in bad.output
    assert "Traceback" not in bad.output
    # the report is never written into the export (or the lake) it assesses, nor over a folder
    inside = runner.invoke(
        app, ["risk", str(risk_sources["lake"]), "--out", str(risk_sources["lake"] / "_lake.json")]
    )
    assert inside.exit_code != 0 and "is inside the source" in inside.output
    assert json.loads((risk_sources["lake"] / "_lake.json").read_text())
    folder = runner.invoke(app, ["risk", str(risk_sources["meds"]), "--out", str(tmp_path)])
    assert folder.exit_code != 0 and "is a directory" in folder.output


def test_journalist_against_the_lake(risk_sources: dict[str, Path]) -> None:
    """The MEDS export covers every person of its lake: each class of the export meets a class
    of the same size in the lake, so the journalist risks equal the prosecutor risks."""
    r = risk_report(risk_sources["meds"], population=risk_sources["lake"])
    assert r.population == "lake"
    for c in r.combinations:
        for m in [c.finest] + [p.metrics for p in c.path]:
            risks = m.risks()
            j = risks["journalist"]
            assert j["unmatched"] == 0, c.name
            assert j["population_k"] == m.k
            for key in ("max_risk", "average_risk", "records_at_risk_share"):
                assert j[key] == pytest.approx(risks["prosecutor"][key]), (c.name, key)
