"""Fixtures of the dashboard tests: one example released folder (built through the gate from
random counts, see released_example.py), one server on 127.0.0.1 for the whole session, one
headless Debian chromium (driven by Playwright; never `playwright install`)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.serving import make_server

from sndslab.dashboard import ReleasedFolder, create_app, load_released

HERE = Path(__file__).parent
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


def released_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("released_example", HERE / "released_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def released_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Diabetes (yearly, standardised, age table) for 2020-2021 and GP visits (monthly, for
    2019-2021: an interrupted time series around the first lockdown) at 1,000,000 persons,
    with Lozère's rates planted tiny (suppressed cells), plus the pathway tables of
    docs/pathways.md."""
    work = tmp_path_factory.mktemp("dashboard-release")
    return released_example().build_released(
        work / "released",
        work,
        indicators=("diabetes", "gp_visits_monthly"),
        years=(2020, 2021),
        persons=1_000_000,
        monthly_years=(2019, 2020, 2021),
    )


@pytest.fixture(scope="session")
def released(released_dir: Path) -> ReleasedFolder:
    return load_released(released_dir)


@pytest.fixture(scope="session")
def no_pathways_dir(released_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same release without its pathway tables (as written by the gate alone)."""
    import json

    out = tmp_path_factory.mktemp("dashboard-nopath") / "released"
    shutil.copytree(released_dir, out)
    audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    for name in list(audit["files"]):
        if name.startswith("pathways__"):
            del audit["files"][name]
            (out / name).unlink()
    audit["requested"]["tables"] = [
        t for t in audit["requested"]["tables"] if not str(t.get("file", "")).startswith("path")
    ]
    (out / "audit.json").write_text(json.dumps(audit), encoding="utf-8")
    return out


class Server:
    def __init__(self, folder: ReleasedFolder, token: str | None = None) -> None:
        self.app = create_app(folder, token=token)
        self.httpd = make_server("127.0.0.1", 0, self.app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def server(released: ReleasedFolder) -> Iterator[Server]:
    srv = Server(released)
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def no_pathways_server(no_pathways_dir: Path) -> Iterator[Server]:
    srv = Server(load_released(no_pathways_dir))
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} not found: apt-get install -y chromium chromium-driver (see .ci/run)"
    )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: $SNDSLAB_TEST_ARTEFACTS/dashboard, else pytest's temp."""
    root = os.environ.get("SNDSLAB_TEST_ARTEFACTS")
    out = Path(root) / "dashboard" if root else tmp_path_factory.mktemp("artefacts")
    out.mkdir(parents=True, exist_ok=True)
    return out
