"""Missing source tables (issue 11, item 3): a table that the extract holds rows for but that
cannot be built, decided or read is an error naming it and what needs it, unless the user
allows the gap, which is then recorded; a product absent from the extract is not an error.

A tiny extract (200 persons, 2019) is generated once; each case removes raw files from a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sndslab.cli import app
from sndslab.errors import MissingSourceError
from sndslab.events import extract_events
from sndslab.ingest import ingest
from sndslab.ingest._sources import INT_SOURCES
from sndslab.lake import LakePaths, dataset_paths, read_manifest

runner = CliRunner()


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sndslab.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("missing") / "extract"
    generate(SynthConfig(patients=200, first_year=2019, last_year=2019, seed=21), out)
    return out / "raw"


def _raw_without(raw: Path, dest: Path, prefixes: Iterable[str]) -> Path:
    shutil.copytree(raw, dest)
    removed = [p for p in dest.iterdir() if p.name.startswith(tuple(prefixes))]
    assert removed, prefixes
    for p in removed:
        p.unlink()
    return dest


@pytest.fixture(scope="module")
def no_ssr_lake(extract: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An extract without any SSR file, ingested and extracted with no option."""
    base = tmp_path_factory.mktemp("no-ssr")
    raw = _raw_without(extract, base / "raw", ["T_SSR"])
    ingest(raw, base / "lake", truth=False)
    extract_events(base / "lake")
    return base / "lake"


def test_a_product_absent_from_the_extract_is_not_an_error(no_ssr_lake: Path) -> None:
    paths = LakePaths(str(no_ssr_lake))
    sources = read_manifest(paths, "int").counts["sources"]
    assert sources["allowed_missing"] == {}
    for table in ("ssr_stays", "ssr_diagnoses", "ssr_acts"):
        assert sources["absent"][table]["reason"] == "not_in_extract"
    events = read_manifest(paths, "events")
    runs = {r["name"]: r for r in events.counts["extractors"]}
    assert runs["ssr_stay"]["skipped"] == "not in the extract: no T_SSRaaB, T_SSRaaC staged"
    assert runs["mco_stay"]["skipped"] is None and runs["mco_stay"]["emitted"] > 0
    assert events.counts["missing_sources"] == {}


def test_the_command_prints_what_is_not_in_the_extract(no_ssr_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(no_ssr_lake, lake)
    res = runner.invoke(app, ["events", str(lake)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    # the summary row "extractors not in the extract", the last of its table (label and cell
    # wrap on a narrow console: read what follows the label's first word)
    row = res.output.split("extractors", 1)[1]
    assert "ssr_stay" in row and "ssr_csarr_act" in row, res.output


def test_a_missing_link_table_is_an_error_unless_allowed(extract: Path, tmp_path: Path) -> None:
    raw = _raw_without(extract, tmp_path / "raw", ["T_MCO19C.", "ER_ETE_F"])
    lake = tmp_path / "lake"
    with pytest.raises(MissingSourceError) as exc:
        ingest(raw, lake, truth=False)
    msg = str(exc.value)
    assert "T_MCOaaC (needed by int.mco_acts, int.mco_diagnoses, int.mco_stays)" in msg
    assert "ER_ETE_F (needed by rule dcir_public_t2a_duplicates)" in msg
    assert "--allow-missing T_MCOaaC" in msg and "--allow-missing-tables" in msg
    with pytest.raises(MissingSourceError, match="ER_ETE_F"):  # one allowed, not the other
        ingest(raw, lake, truth=False, allow_missing=["T_MCOaaC"])

    ete = ["--allow-missing", "ER_ETE_F"]
    res = runner.invoke(
        app,
        ["ingest", str(raw), "--lake", str(lake), "--allow-missing", "t_mcoaac", *ete],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    assert "missing T_MCOaaC (allowed)" in res.output
    assert "missing ER_ETE_F (allowed)" in res.output
    manifest = read_manifest(LakePaths(str(lake)), "int")
    allowed = manifest.counts["sources"]["allowed_missing"]
    assert allowed == {
        "ER_ETE_F": ["rule dcir_public_t2a_duplicates"],
        "T_MCOaaC": ["int.mco_acts", "int.mco_diagnoses", "int.mco_stays"],
    }
    assert manifest.counts["sources"]["absent"]["mco_stays"] == {
        "reason": "missing_sources",
        "missing": ["T_MCOaaC"],
    }
    assert any("T_MCOaaC" in n for n in manifest.notes)

    # the events: every MCO extractor needs a table that was not built
    with pytest.raises(MissingSourceError) as exc:
        extract_events(lake)
    msg = str(exc.value)
    assert (
        "int.mco_stays was not built: T_MCOaaC not staged (needed by mco_diagnosis, mco_stay, "
        "patients (deaths in an MCO stay))" in msg
    )
    assert "--allow-missing int.mco_stays" in msg
    assert not (lake / "events").exists()  # nothing written

    res = runner.invoke(
        app, ["events", str(lake), "--allow-missing", "T_MCOaaC"], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    assert "missing int.mco_stays (allowed)" in res.output
    events = read_manifest(LakePaths(str(lake)), "events")
    gaps = events.counts["missing_sources"]
    assert set(gaps) == {"int.mco_stays", "int.mco_diagnoses", "int.mco_acts"}
    assert gaps["int.mco_stays"]["extractors"] == [
        "mco_diagnosis",
        "mco_stay",
        "patients (deaths in an MCO stay)",
    ]
    runs = {r["name"]: r for r in events.counts["extractors"]}
    assert runs["mco_stay"]["skipped"].startswith("missing (allowed)")
    assert runs["drug_dispensation"]["emitted"] > 0
    assert any("int.mco_stays" in n for n in events.notes)


def test_a_deleted_int_dataset_is_an_error(no_ssr_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(no_ssr_lake, lake)
    paths = LakePaths(str(lake))
    (gone,) = dataset_paths(paths, "int.mco_stays") or []
    shutil.rmtree(gone)
    res = runner.invoke(app, ["events", str(lake)])
    assert res.exit_code == 1, res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert "int.mco_stays: its dataset" in line and "is missing from the lake" in line
    assert "mco_stay" in line and "Traceback" not in res.output
    before = read_manifest(paths, "events").generation
    res = runner.invoke(app, ["events", str(lake), "--allow-missing-tables"])
    assert res.exit_code == 0, res.output
    after = read_manifest(paths, "events")
    assert after.generation == before + 1 and "int.mco_stays" in after.counts["missing_sources"]


def test_int_sources_match_what_the_builders_read(no_ssr_lake: Path) -> None:
    """Every int table a builder wrote is declared in INT_SOURCES (or is a ``ref_`` table),
    and every staged table a group read is a declared source of the tables it wrote."""
    groups = read_manifest(LakePaths(str(no_ssr_lake)), "int").counts["int_groups"]
    for name, group in groups.items():
        declared: set[str] = set()
        for table in group["tables"]:
            if table.startswith("ref_"):
                declared.add(table[4:].upper())
                continue
            assert table in INT_SOURCES, (name, table)
            rows_from, needs = INT_SOURCES[table]
            declared |= {*rows_from, *needs}
        assert set(group["reads"]) <= declared, (name, set(group["reads"]) - declared)
