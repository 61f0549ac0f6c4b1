"""End-to-end tests in Debian's headless chromium (Playwright, executable /usr/bin/chromium):
the page loads without console errors; choosing an indicator and a département updates the
map, the series and the URL; a suppressed cell shows as suppressed; the CSV download equals
the released file's rows; screenshots of every view are saved as test artefacts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sndslab.dashboard._labels import VIEWS

SETTLED = """() => {
  const about = document.querySelector('#secret-count');
  if (about === null || document.querySelector('[data-dash-is-loading="true"]') !== null) {
    return false;
  }
  const box = document.querySelector('#figure');
  if (box === null || box.style.display === 'none') { return true; }
  const gd = box.querySelector('.js-plotly-plot');
  return gd !== null && gd._fullData !== undefined && gd.data !== undefined
    && gd.data.length > 0 && gd._fullData.length === gd.data.length
    && gd.querySelector('.main-svg') !== null;
}"""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.problems = []  # console errors/warnings and uncaught exceptions
    pg.on(
        "console",
        lambda m: (
            pg.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    pg.on("pageerror", lambda e: pg.problems.append(f"pageerror: {e}"))
    yield pg
    context.close()


def settle(page: Any) -> None:
    page.wait_for_function(SETTLED, timeout=30_000)
    page.wait_for_timeout(300)
    page.wait_for_function(SETTLED, timeout=30_000)


def query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def figure_data(page: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = page.evaluate(
        "() => document.querySelector('#figure .js-plotly-plot').data.map("
        "t => ({type: t.type, name: t.name, locations: t.locations ? Array.from(t.locations)"
        " : null}))"
    )
    return data


def figure_title(page: Any) -> str:
    title: str = page.locator("#figure .gtitle").text_content()
    return title


def choose(page: Any, dropdown: str, text: str) -> None:
    """Pick an option of a dcc.Dropdown: open it, search, click the option."""
    page.locator(f"#{dropdown}").click()
    page.get_by_placeholder("Search").fill(text)
    page.get_by_role("option", name=text).first.click()
    settle(page)


def test_the_page_loads_without_console_errors(page: Any, server: Any) -> None:
    page.goto(server.url + "/")
    settle(page)
    assert page.locator(".choroplethlocation").count() >= 96  # every metropolitan département
    assert "IGN Admin Express" in page.locator("#figure").inner_text()
    assert query(page)["indicator"] == "diabetes"  # the URL holds the default selection
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("#page").get_attribute("lang") == "fr"
    assert page.problems == []


def test_indicator_and_departement_update_map_series_and_url(page: Any, server: Any) -> None:
    page.goto(server.url + "/?indicator=diabetes&view=map")
    settle(page)
    assert figure_title(page).startswith("Diabète")
    choose(page, "indicator", "Consultations")
    assert query(page)["indicator"] == "gp_visits_monthly"
    assert figure_title(page).startswith("Consultations de médecine générale")
    assert query(page)["period"] == "2021-12"
    choose(page, "territory", "Hérault")
    assert query(page)["territory"] == "034"
    outline = [t for t in figure_data(page) if t["name"] == "Hérault (034)"]
    assert outline and outline[0]["locations"] == ["34"]  # the map marks the chosen one
    page.locator("#view input[value='series']").check()
    settle(page)
    assert query(page)["view"] == "series" and query(page)["territory"] == "034"
    names = [t["name"] for t in figure_data(page)]
    assert "Hérault (034)" in names and "France (référence)" in names
    assert "Rupture (série interrompue)" in page.locator("#figure").inner_text()
    # a click on the map selects a territory
    page.locator("#view input[value='map']").check()
    settle(page)
    box = page.locator(".choroplethlocation").nth(40).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    settle(page)
    assert query(page)["territory"] not in ("034", "ALL")
    assert page.problems == []


def test_a_permalink_restores_the_selection(page: Any, server: Any) -> None:
    page.goto(
        server.url + "/?indicator=diabetes&view=funnel&level=region&territory=76"
        "&sex=2&period=2020&lang=en"
    )
    settle(page)
    q = query(page)
    assert (q["view"], q["level"], q["territory"], q["sex"], q["period"], q["lang"]) == (
        "funnel",
        "region",
        "76",
        "2",
        "2020",
        "en",
    )
    link = page.locator("#permalink").get_attribute("href")
    assert link is not None and "territory=76" in link and "view=funnel" in link
    assert page.locator("#page-title").inner_text() == "Territorial health indicators"


def test_a_suppressed_cell_shows_as_suppressed(page: Any, server: Any) -> None:
    page.goto(server.url + "/?indicator=diabetes&view=ranking&period=2021")
    settle(page)
    row = page.locator("#ranking-table tr", has_text="Lozère (048)")
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[3] == "secret statistique" and "0" not in cells[3]
    assert cells[5] == "secret statistique" and cells[0] == ""
    assert "secret statistique" in page.locator("#secret-count").inner_text()
    page.goto(server.url + "/?indicator=diabetes&view=map&period=2021")
    settle(page)
    secret = [t for t in figure_data(page) if t["name"] == "secret statistique"]
    assert secret and "48" in secret[0]["locations"]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=";"))


def test_the_download_equals_the_released_rows(page: Any, server: Any, released_dir: Path) -> None:
    page.goto(server.url + "/?indicator=diabetes&view=map&period=2021&sex=2")
    settle(page)
    with page.expect_download() as info:
        page.locator("#download").click()
    got = _rows(Path(info.value.path()).read_text(encoding="utf-8"))
    released = _rows((released_dir / "diabetes__territory_sex.csv").read_text(encoding="utf-8"))
    header = released[0]
    col = {c: i for i, c in enumerate(header)}
    expected = [
        r
        for r in released[1:]
        if r[col["period"]] == "2021" and r[col["sex"]] == "2" and r[col["departement"]] != "ALL"
    ]
    assert got[0] == header and got[1:] == expected and len(expected) == 101
    assert any(r[col["status"]] == "suppressed" and r[col["numerator"]] == "" for r in got[1:])


def test_unknown_values_in_the_url_are_a_message(page: Any, server: Any) -> None:
    page.goto(server.url + "/?indicator=nope&territory=999&period=1999")
    settle(page)
    message = page.locator("#message").inner_text()
    assert "« nope »" in message and "« 999 »" in message and "« 1999 »" in message
    assert "Traceback" not in page.content()
    assert query(page)["indicator"] == "diabetes"
    assert page.problems == []


def test_keyboard_language_and_views(page: Any, server: Any) -> None:
    page.goto(server.url + "/")
    settle(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip"
    page.focus("#lang input[value='en']")
    page.keyboard.press("Space")
    settle(page)
    assert query(page)["lang"] == "en"
    assert page.locator("#label-indicator").inner_text() == "Indicator"
    assert page.locator("#page").get_attribute("lang") == "en"
    page.focus("#view input[value='map']")
    page.keyboard.press("ArrowRight")  # radio group: the next view
    settle(page)
    assert query(page)["view"] == "series"


def test_screenshot_of_each_view(page: Any, server: Any, artefacts: Path) -> None:
    page.goto(f"{server.url}/?indicator=diabetes&territory=034")
    settle(page)
    for view in VIEWS:
        page.locator(f"#view input[value='{view}']").check()
        settle(page)
        assert query(page)["view"] == view
        if view == "ranking":
            assert page.locator("#ranking-table tbody tr").count() == 102
        elif view == "pathways":
            assert page.locator("#figure .sankey").count() == 1
            assert "Hérault (034)" in figure_title(page)
        else:
            assert page.locator("#figure .main-svg").count() >= 1
        out = artefacts / f"dashboard-{view}.png"
        page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 10_000
    assert page.problems == []


def test_the_pathway_view_shows_labels_and_secret_branches(page: Any, server: Any) -> None:
    """Hérault 2021: a published cohort whose small branches the gate suppressed (the released
    tables came through sndslab.pathways.pathway_tables and the gate)."""
    page.goto(server.url + "/?view=pathways&territory=034&period=2021")
    settle(page)
    assert page.locator("#figure .sankey").count() == 1
    assert page.locator("#figure .sunburst").count() == 1
    nodes = page.locator("#figure .sankey .node-label").all_text_contents()
    assert "SSR (soins médicaux et de réadaptation)" in nodes
    assert "Séjour MCO pour fracture du fémur" in nodes  # the index stay
    assert "secret statistique" in nodes
    assert not {"ssr", "home", "death", "mco", "index", "0"} & set(nodes)
    assert figure_title(page).startswith("Fracture")
    assert "Hérault (034)" in figure_title(page)
    assert "sous secret statistique" in page.locator("#view-text").inner_text()
    page.locator("#lang input[value='en']").check()
    settle(page)
    nodes = page.locator("#figure .sankey .node-label").all_text_contents()
    assert "Rehabilitation (SSR)" in nodes and "statistical secrecy" in nodes
    assert page.problems == []


def test_no_pathway_released_is_a_message_in_the_page(page: Any, no_pathways_server: Any) -> None:
    page.goto(no_pathways_server.url + "/?view=pathways&pathway=hip_fracture_65")
    settle(page)
    assert page.locator("#figure").is_hidden()
    assert "Aucun parcours de soins publié" in page.locator("#notice").inner_text()
    assert page.problems == []
