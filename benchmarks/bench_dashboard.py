"""Benchmark of the dashboard, measured in the browser (Debian's headless chromium driven by
Playwright): time to first render of the map and time to update the map after a selection,
on a released folder the size of the full indicator catalogue.

The released folder is built directly through the release gate from random counts
(``tests/dashboard/released_example.py``: every indicator of the catalogue, 101 départements
× 3 years × 5 broad age bands × sex, monthly indicators by month, at ``--persons`` persons,
no planted small cells), not from a lake: a lake of 1,000,000 persons with the whole catalogue
does not fit the 5-minute budget of this shared machine. The dashboard runs as
``sndslab dashboard DIR`` in a child process (its peak RSS sampled with psutil).

Reported (medians over ``--repeats`` runs, with min and max): ``first_render`` (navigation →
map drawn, a fresh page each time), ``update_map_territory`` (a département chosen from the
dropdown → map redrawn with its outline), ``update_map_indicator`` (another indicator →
map redrawn), ``update_level`` (régions ↔ départements). No peer implementation exists to run
side by side. Results: ``benchmarks/results/dashboard.json``.

Usage::

    python benchmarks/bench_dashboard.py                     # full catalogue, 1,000,000 persons
    python benchmarks/bench_dashboard.py --indicators diabetes,mortality --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "dashboard.json"
CHROMIUM = os.environ.get("SNDSLAB_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DRAWN = """(want) => {
  if (document.querySelector('[data-dash-is-loading="true"]') !== null) { return false; }
  const gd = document.querySelector('#figure .js-plotly-plot');
  if (gd === null || gd._fullData === undefined || gd.data === undefined) { return false; }
  if (document.querySelectorAll('#figure .choroplethlocation').length < 12) { return false; }
  const title = gd.querySelector('.gtitle');
  return title !== null && title.textContent.includes(want);
}"""


def _example() -> Any:
    path = ROOT / "tests" / "dashboard" / "released_example.py"
    spec = importlib.util.spec_from_file_location("released_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_up(url: str, child: subprocess.Popen[bytes]) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < 300:
        if child.poll() is not None:
            raise SystemExit(f"sndslab dashboard exited with code {child.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    raise SystemExit("sndslab dashboard did not answer within 300 s")


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "runs": len(values),
    }


def _measure(url: str, repeats: int, titles: dict[str, str]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    first, territory, indicator, level = [], [], [], []
    names = list(titles)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        version = browser.version
        for i in range(repeats):
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            t = time.perf_counter()
            page.goto(f"{url}/?indicator={names[0]}&view=map&territory=ALL")
            page.wait_for_function(DRAWN, arg=titles[names[0]], timeout=120_000)
            first.append(time.perf_counter() - t)
            # a département from the dropdown: the map draws its outline
            page.locator("#territory").click()
            page.get_by_placeholder("Search").fill("Hérault")
            t = time.perf_counter()
            page.get_by_role("option", name="Hérault").first.click()
            page.wait_for_function(
                "() => Array.from(document.querySelector('#figure .js-plotly-plot').data)"
                ".some(t => t.name === 'Hérault (034)')",
                timeout=120_000,
            )
            page.wait_for_function(DRAWN, arg=titles[names[0]], timeout=120_000)
            territory.append(time.perf_counter() - t)
            # another indicator
            other = names[1 + i % (len(names) - 1)] if len(names) > 1 else names[0]
            page.locator("#indicator").click()
            page.get_by_placeholder("Search").fill(titles[other])
            t = time.perf_counter()
            page.get_by_role("option", name=titles[other]).first.click()
            page.wait_for_function(DRAWN, arg=titles[other], timeout=120_000)
            indicator.append(time.perf_counter() - t)
            # régions
            t = time.perf_counter()
            page.locator("#level input[value='region']").check()
            page.wait_for_function(
                "() => document.querySelectorAll('#figure .choroplethlocation').length <= 20"
                " && document.querySelector('[data-dash-is-loading=\"true\"]') === null",
                timeout=120_000,
            )
            level.append(time.perf_counter() - t)
            context.close()
        browser.close()
    return {
        "chromium": version,
        "first_render": _stats(first),
        "update_map_territory": _stats(territory),
        "update_map_indicator": _stats(indicator),
        "update_level": _stats(level),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--indicators", default="all", help="comma-separated, or 'all'")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import dash
    import plotly
    import psutil

    import sndslab
    from sndslab.indicators import load_indicators

    specs = load_indicators(names=None if args.indicators == "all" else args.indicators.split(","))
    names = [s.name for s in specs]
    titles = {s.name: s.title.fr for s in specs}
    order = ["diabetes", *[n for n in names if n != "diabetes"]] if "diabetes" in names else names
    titles = {n: titles[n] for n in order}
    with tempfile.TemporaryDirectory(prefix="sndslab-bench-dashboard-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        out = _example().build_released(
            work / "released",
            work,
            indicators=tuple(names),
            years=(2019, 2020, 2021),
            persons=args.persons,
            rare=(),
        )
        build = time.perf_counter() - t
        audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
        cells = sum(int(x["cells"]) for x in audit["tables"])
        suppressed = sum(int(x["primary"]) + int(x["secondary"]) for x in audit["tables"])
        size = sum(f.stat().st_size for f in out.iterdir())
        port = _free_port()
        cmd = [sys.executable, "-m", "sndslab", "dashboard", str(out), "--port", str(port)]
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            startup = _wait_up(url + "/", child)
            rss_loaded = psutil.Process(child.pid).memory_info().rss
            measured = _measure(url, args.repeats, titles)
            rss_after = psutil.Process(child.pid).memory_info().rss
        finally:
            child.terminate()
            child.wait(timeout=30)
    body = {
        "benchmark": "dashboard: time to first render and to update the map, in the browser",
        "released_folder": {
            "how": "built directly through the release gate from random counts "
            "(tests/dashboard/released_example.py), not from a lake",
            "persons": args.persons,
            "indicators": len(names),
            "departements": 101,
            "years": [2019, 2020, 2021],
            "age_bands": 5,
            "tables": len(audit["tables"]),
            "cells": cells,
            "suppressed_cells": suppressed,
            "bytes": size,
            "build_seconds": round(build, 1),
        },
        "server": {
            "command": "sndslab dashboard DIR --port PORT",
            "startup_to_first_answer_s": round(startup, 2),
            "rss_after_load_mb": round(rss_loaded / 2**20, 1),
            "rss_after_runs_mb": round(rss_after / 2**20, 1),
        },
        "browser": measured,
        "peer": "none: no other open dashboard of released SNDS aggregates to run side by side",
        "lake_1M_persons": {
            "status": "not_run",
            "reason": "a 1,000,000-person lake with the whole catalogue computed and released "
            "does not fit the 5-minute budget of this shared 2-core machine; the released "
            "folder above has the same shape (the dashboard only reads released tables)",
            "command": "sndslab demo --out big --patients 1000000 --only all && "
            "sndslab dashboard big/released",
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "note": "2 shared cores, several concurrent jobs",
        },
        "versions": {
            "sndslab": sndslab.__version__,
            "dash": dash.__version__,
            "plotly": plotly.__version__,
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(json.dumps(body["browser"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
