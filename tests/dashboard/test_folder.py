"""Reading a released folder: refusals with a clear message, the release's metadata, the URL
selection (unknown values → a message, never an error) and the rows each view shows."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sndslab
from sndslab.dashboard import (
    DashboardError,
    ReleasedFolder,
    Selection,
    load_released,
    parse_query,
    shown_rows,
    to_query,
)
from sndslab.dashboard._app import render
from sndslab.dashboard._views import options, ranking
from sndslab.pathways import load_pathways


def _copy(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(src, out)
    return out


def test_refuses_a_folder_without_audit(tmp_path: Path) -> None:
    with pytest.raises(DashboardError, match=r"no audit\.json.*sndslab release LAKE --out DIR"):
        load_released(tmp_path)


def test_refuses_a_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sndslab.open_lake(lake, create=True).close()
    with pytest.raises(DashboardError, match="not a released folder"):
        load_released(lake)


def test_an_older_audit_names_what_it_lacks(released_dir: Path, tmp_path: Path) -> None:
    out = _copy(released_dir, tmp_path)
    audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    del audit["files"], audit["requested"]
    (out / "audit.json").write_text(json.dumps(audit), encoding="utf-8")
    with pytest.raises(DashboardError, match=r"older version.*lacks files, requested"):
        load_released(out)


def test_a_missing_file_is_named(released_dir: Path, tmp_path: Path) -> None:
    out = _copy(released_dir, tmp_path)
    (out / "diabetes__region_age_sex.csv").unlink()
    with pytest.raises(DashboardError, match=r"missing diabetes__region_age_sex\.csv"):
        load_released(out)


def test_an_altered_file_is_refused(released_dir: Path, tmp_path: Path) -> None:
    out = _copy(released_dir, tmp_path)
    path = out / "diabetes__territory_sex.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("suppressed", "published"), "utf-8")
    with pytest.raises(DashboardError, match="differs from the release's audit"):
        load_released(out)


def test_an_older_table_layout_is_named(released_dir: Path, tmp_path: Path) -> None:
    out = _copy(released_dir, tmp_path)
    audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    for t in audit["requested"]["tables"]:
        t["description"] = str(t.get("description", "")).split(" | ")[0]
    (out / "audit.json").write_text(json.dumps(audit), encoding="utf-8")
    folder = load_released(out)
    assert any(
        "diabetes: this release predates the indicator metadata" in w for w in folder.warnings
    )
    sel, _ = parse_query(folder, "indicator=diabetes")
    text = json.dumps(render(folder, to_query(sel), "")[-1], default=str, ensure_ascii=False)
    assert "non renseigné dans cette publication" in text


def test_the_release_carries_the_indicator_metadata(released: ReleasedFolder) -> None:
    about = released.indicators["diabetes"].about
    assert about["title_fr"] == "Diabète" and about["title_en"] == "Diabetes"
    assert about["definition_fr"].startswith("Personnes prises en charge pour un diabète")
    assert "CNAM" in about["source"]
    assert about["population"].startswith("persons covered and alive")
    assert about["standardisation"].startswith("direct")
    assert released.warnings == []
    assert set(released.pathways) == {"pathways__transitions", "pathways__sequences"}


def test_unknown_values_in_the_url_are_messages(released: ReleasedFolder) -> None:
    sel, messages = parse_query(released, "indicator=nope&territory=999&period=1999&view=x")
    assert sel.indicator == "diabetes" and sel.territory == "ALL" and sel.view == "map"
    assert sel.period == "2021"
    text = " ".join(messages)
    for value in ("« nope »", "« 999 »", "« 1999 »", "« x »"):
        assert value in text
    sel, messages = parse_query(released, "lang=en&indicator=nope")
    assert messages == ["Unknown indicator in the URL: “nope”; diabetes shown instead."]


@settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(st.text(max_size=80))
def test_any_query_gives_a_valid_selection(released: ReleasedFolder, query: str) -> None:
    sel, _ = parse_query(released, query)
    assert sel.indicator in released.indicators
    assert sel.period in released.indicators[sel.indicator].periods
    again, messages = parse_query(released, to_query(sel))
    assert again == sel and messages == []


def test_the_map_shows_the_released_rows_of_its_selection(released: ReleasedFolder) -> None:
    sel = Selection(indicator="diabetes", period="2021", sex="all")
    stem, rows = shown_rows(released, sel)
    assert stem == "diabetes__territory_sex"
    table = released.indicators["diabetes"].territory
    expected = table[
        (table["period"] == "2021") & (table["sex"] == "all") & (table["departement"] != "ALL")
    ]
    assert rows.index.tolist() == expected.index.tolist() and len(rows) == 101


def test_a_suppressed_cell_ranks_as_secret_never_zero(released: ReleasedFolder) -> None:
    sel = Selection(indicator="diabetes", period="2021", view="ranking")
    _, rows = shown_rows(released, sel)
    secret = set(rows.loc[rows["status"] == "suppressed", "departement"])
    assert "048" in secret  # Lozère's planted small counts
    shown = {r["code"]: r for r in ranking(released, sel, rows)}
    for code in secret:
        assert shown[code]["value"] == "secret statistique"
        assert shown[code]["numerator"] == "secret statistique" and shown[code]["rank"] == ""
    published = rows[rows["status"] == "published"]
    assert all(shown[c]["value"] != "secret statistique" for c in published["departement"])


def test_no_pathway_table_is_a_message(no_pathways_dir: Path) -> None:
    folder = load_released(no_pathways_dir)
    sel, messages = parse_query(folder, "view=pathways&pathway=hip_fracture_65")
    assert messages == [] and sel.pathway == ""
    out = render(folder, to_query(sel), "")
    assert out[1] == {"display": "none"}
    assert "Aucun parcours de soins publié" in json.dumps(out[2], default=str, ensure_ascii=False)


def test_the_pathway_view_draws_the_released_transitions(released: ReleasedFolder) -> None:
    """The released tables came through pathway_tables and the gate; the view draws them with
    the pathway module's figures: the spec's labels, never the state codes."""
    sel, _ = parse_query(released, "view=pathways&level=region&territory=11&period=2021")
    assert sel.pathway == "hip_fracture_65"
    spec = load_pathways(["hip_fracture_65"])[0]
    fig = render(released, to_query(sel), "")[0]
    sankey = fig.data[0]
    assert sankey.type == "sankey"
    labels = set(sankey.node.label)
    assert {spec.label(s, "fr") for s in ("ssr", "home", "death", "mco", "index")} <= labels
    assert not {"ssr", "home", "death", "mco"} & labels
    _, rows = shown_rows(released, sel)
    first = rows[(rows["path"] == "ssr")]["persons"].iloc[0]
    assert float(first) in [float(v) for v in sankey.link.value]
    sunburst = fig.data[1]
    assert sunburst.type == "sunburst" and sunburst.branchvalues == "total"
    cohort = rows[rows["path"] == "ALL"]["persons"].iloc[0]
    assert sunburst.ids[0] == "ALL" and float(sunburst.values[0]) == float(cohort)
    assert float(first) == float(sunburst.values[list(sunburst.ids).index("ssr")])
    assert spec.title.fr in fig.layout.title.text and "Île-de-France" in fig.layout.title.text
    english = render(released, to_query(replace(sel, lang="en")), "")[0]
    assert spec.label("ssr", "en") in set(english.data[0].node.label)
    assert spec.title.en in english.layout.title.text
    assert options(released, sel)["pathway"] == [{"label": spec.title.fr, "value": spec.name}]


def test_pathway_secret_branches_are_grey_not_zero(released: ReleasedFolder) -> None:
    sel, _ = parse_query(released, "view=pathways&territory=034&period=2021")
    _, rows = shown_rows(released, sel)
    assert (rows["status"] == "suppressed").any() and (rows["status"] == "published").any()
    fig, _, note, *_ = render(released, to_query(sel), "")
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    assert all(float(v) > 0 for v in sankey.link.value)
    assert "secret statistique" in labels
    assert all(c == "#DDDDDD" for c, x in zip(sankey.node.color, labels, strict=True)
               if x == "secret statistique")  # fmt: skip
    # the suppressed children of a published branch: one grey branch = branch - published ones
    persons = dict(zip(rows["path"], rows["persons"], strict=True))
    status = dict(zip(rows["path"], rows["status"], strict=True))
    expected = []
    for parent in ("ALL", "ssr", "home", "death"):
        kids = [p for p in persons if p != "ALL" and (p.rsplit(" > ", 1)[0] if " > " in p
                else "ALL") == parent]  # fmt: skip
        if status[parent] == "published" and any(status[k] == "suppressed" for k in kids):
            shown = sum(float(persons[k]) for k in kids if status[k] == "published")
            expected.append(float(persons[parent]) - shown)
    secret = sorted(
        float(v)
        for v, target in zip(sankey.link.value, sankey.link.target, strict=True)
        if labels[target] == "secret statistique"
    )
    assert secret == sorted(v for v in expected if v > 0) and secret
    sun = fig.data[1]
    assert all(float(v) > 0 for v in sun.values)
    for label, colour in zip(sun.labels, sun.marker.colors, strict=True):
        assert (colour == "#DDDDDD") == (label == "secret statistique")
    assert "sous secret statistique" in json.dumps(note, default=str, ensure_ascii=False)


def test_a_secret_pathway_cohort_is_said_so(released: ReleasedFolder) -> None:
    table = released.pathways["pathways__transitions"]
    secret = table[
        (table["path"] == "ALL")
        & (table["status"] == "suppressed")
        & (table["departement"] != "ALL")
        & (table["period"] == "2021")
    ]
    code = str(secret["departement"].iloc[0])
    sel, _ = parse_query(released, f"view=pathways&territory={code}&period=2021")
    fig, _, note, *_ = render(released, to_query(sel), "")
    assert len(fig.data) == 1 and list(fig.data[0].link.value) == []
    assert "secret statistique" in fig.layout.annotations[0].text
    assert "cohorte de ce territoire" in json.dumps(note, default=str, ensure_ascii=False)


def test_the_pathway_year_falls_back_to_a_released_one(released: ReleasedFolder) -> None:
    sel, _ = parse_query(released, "view=pathways&indicator=gp_visits_monthly&period=2019-03")
    _, rows = shown_rows(released, sel)
    assert set(rows["period"]) == {"2021"}
    _, _, note, *_ = render(released, to_query(sel), "")
    assert "Parcours non publié pour 2019" in json.dumps(note, default=str, ensure_ascii=False)
