"""The server's security: headers, nothing but the app's routes (no path traversal, no
released file or lake served by name), no identifier or lake path in any response, the
optional token, the loopback default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sndslab.cli import app as cli
from sndslab.dashboard import TOKEN_COOKIE, ReleasedFolder, create_app, host_warning
from sndslab.dashboard._app import render, sync_selection
from sndslab.dashboard._views import parse_query, to_query

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
IDENTIFIERS = ("person_id", "PFS_EXE_NUM", "BEN_NIR", "NUM_ENQ", "BEN_NIR_PSA")


@pytest.fixture(scope="module")
def client(released: ReleasedFolder):  # type: ignore[no-untyped-def]
    return create_app(released).server.test_client()


@pytest.mark.parametrize("path", ["/", "/_dash-layout", "/download.csv", "/nothing"])
def test_security_headers(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'sha256-" in csp
    assert "Server" not in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/audit.json",
        "/data_dictionary.csv",
        "/diabetes__territory_sex.csv",
        "/diabetes__territory_sex.parquet",
        "/../audit.json",
        "/assets/../audit.json",
        "/assets/..%2f..%2faudit.json",
        "/assets/%2e%2e/%2e%2e/audit.json",
        "/_dash-component-suites/dash/../../../../audit.json",
        "/_dash-component-suites/sndslab/audit.json",
        "/_dash-component-suites/dash/..%2f..%2f..%2fetc%2fpasswd",
        "/etc/passwd",
        "/lake/stg",
        "/static/audit.json",
    ],
)
def test_no_file_is_served_by_name(client, path: str, released_dir: Path) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code in (400, 404), path
    body = response.get_data(as_text=True)
    assert "sndslab-release-audit" not in body and "root:" not in body
    assert str(released_dir) not in body


@pytest.mark.parametrize(
    "query",
    ["indicator=../../audit", "indicator=/etc/passwd", "view=../audit.json", "period=1999"],
)
def test_the_download_refuses_what_it_does_not_know(client, query: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/download.csv?{query}")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "inconnu" in body and "Traceback" not in body and "root:" not in body


def test_a_malformed_callback_shows_no_trace(client, released_dir: Path) -> None:  # type: ignore[no-untyped-def]
    for payload in (b"{", b'{"output": "x", "inputs": [{"id": "../../audit"}]}', b"[]"):
        response = client.post(
            "/_dash-update-component", data=payload, content_type="application/json"
        )
        assert response.status_code >= 400
        body = response.get_data(as_text=True)
        assert "Traceback" not in body and "site-packages" not in body
        assert str(released_dir) not in body


def test_no_identifier_nor_path_in_any_response(
    client,
    released: ReleasedFolder,
    released_dir: Path,  # type: ignore[no-untyped-def]
) -> None:
    bodies = [
        client.get(p).get_data(as_text=True) for p in ("/", "/_dash-layout", "/_dash-dependencies")
    ]
    for view in ("map", "series", "pyramid", "funnel", "ranking", "pathways"):
        for territory in ("ALL", "048", "034"):
            query = f"view={view}&territory={territory}"
            sel, _ = parse_query(released, query)
            bodies.append(client.get(f"/download.csv?{to_query(sel)}").get_data(as_text=True))
            out = sync_selection(released, "?" + query, None, [None] * 10)
            bodies.append(json.dumps(out, default=str))
            drawn = render(released, to_query(sel), "http://127.0.0.1/")
            bodies.append(
                json.dumps(
                    [d.to_plotly_json() if hasattr(d, "to_plotly_json") else d for d in drawn],
                    default=str,
                )
            )
    work = str(released_dir.parent)  # holds the gate's lake (release log)
    for body in bodies:
        assert work not in body and str(released_dir) not in body
        for name in IDENTIFIERS:
            assert name.lower() not in body.lower()


def test_the_token_guards_every_route(released: ReleasedFolder) -> None:
    guarded = create_app(released, token="s3cret-token").server.test_client()
    assert guarded.get("/").status_code == 401
    assert guarded.get("/_dash-layout").status_code == 401
    assert guarded.get("/download.csv").status_code == 401
    assert guarded.get("/?token=wrong").status_code == 401
    first = guarded.get("/?token=s3cret-token")
    assert first.status_code == 200
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert guarded.get("/_dash-layout").status_code == 200  # the cookie, from now on
    bearer = create_app(released, token="s3cret-token").server.test_client()
    ok = bearer.get("/_dash-layout", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200


def test_only_loopback_is_silent() -> None:
    assert host_warning("127.0.0.1") is None and host_warning("::1") is None
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        warning = host_warning(host)
        assert warning is not None and "reverse proxy" in warning and host in warning


def test_the_cli_binds_loopback_by_default(
    monkeypatch: pytest.MonkeyPatch, released_dir: Path
) -> None:
    calls: list[dict[str, object]] = []
    monkeypatch.setattr(
        "sndslab.dashboard.serve", lambda folder, **kw: calls.append({"folder": folder, **kw})
    )
    result = CliRunner().invoke(cli, ["dashboard", str(released_dir)])
    assert result.exit_code == 0, result.output
    assert calls == [{"folder": released_dir, "host": "127.0.0.1", "port": 8050, "token": None}]


def test_the_cli_refuses_a_folder_without_audit(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["dashboard", str(tmp_path)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and "no audit.json" in result.output
    assert "sndslab release LAKE --out DIR" in result.output


def test_the_dashboard_never_imports_the_lake() -> None:
    import ast

    import sndslab.dashboard

    root = Path(sndslab.dashboard.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                assert not name.startswith(("sndslab.lake", "duckdb", "pyspark")), (path, name)
