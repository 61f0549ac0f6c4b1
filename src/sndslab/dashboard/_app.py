"""The Dash application serving one released folder: layout, callbacks, the CSV download and
the HTTP hardening (security headers, optional token, nothing but the app's own routes).

The URL query is the selection (a permalink): one callback keeps the controls and the URL in
step (an unknown value in the URL is replaced by its default with a message in the page), one
draws the chosen view from the released rows.
"""

from __future__ import annotations

import hmac
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
from dash import Input, Output, State, dcc, html
from dash.exceptions import DependencyException
from flask import Response, request

from sndslab.dashboard._folder import ReleasedFolder
from sndslab.dashboard._labels import OVERSEAS, SUPPRESSED, t, territory_name
from sndslab.dashboard._views import (
    Selection,
    figure,
    options,
    parse_query,
    pathway_title,
    ranking,
    replace_selection,
    shown_rows,
    to_query,
)

__all__ = ["TOKEN_COOKIE", "create_app"]

TOKEN_COOKIE = "sndslab_dashboard_token"
#: ARIA attributes (dash passes ``aria-*`` keywords through; typed as Any for mypy).
_ARIA_LIVE: dict[str, Any] = {"aria-live": "polite"}
_ARIA_VIEWS: dict[str, Any] = {"aria-label": "views"}
_CONTROLS = (
    "lang",
    "indicator",
    "level",
    "period",
    "sex",
    "territory",
    "measure",
    "view",
    "pathway",
)
_LABELS = ("lang", "indicator", "level", "period", "sex", "territory", "measure", "view", "pathway")
#: The only routes served: Dash's own (layout, callbacks, its packaged scripts) and ours.
_ALLOWED_PREFIXES = ("/_dash-component-suites/", "/assets/")
_ALLOWED_PATHS = (
    "/",
    "/_dash-layout",
    "/_dash-dependencies",
    "/_dash-update-component",
    "/download.csv",
    "/_favicon.ico",
)


def _controls(lang: str) -> html.Div:
    def block(key: str, control: Any) -> html.Div:
        return html.Div(
            [html.Label(t(key, lang), id=f"label-{key}", htmlFor=key), control], className="control"
        )

    def radio(key: str) -> dcc.RadioItems:
        return dcc.RadioItems(
            id=key,
            options=[],
            inline=True,
            inputClassName="radio-input",
            labelClassName="radio-label",
        )

    return html.Div(
        [
            block("lang", radio("lang")),
            block("indicator", dcc.Dropdown(id="indicator", options=[], clearable=False)),
            block("period", dcc.Dropdown(id="period", options=[], clearable=False)),
            block("level", radio("level")),
            block("territory", dcc.Dropdown(id="territory", options=[], clearable=False)),
            block("sex", radio("sex")),
            block("measure", radio("measure")),
            block("pathway", dcc.Dropdown(id="pathway", options=[], clearable=False)),
        ],
        className="controls",
        role="group",
    )


class _Dash(dash.Dash):
    """Dash, minus what the page would tell a visitor about the server (Python version) and
    the version check against plotly's site (no outgoing request from the page)."""

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = super()._config()
        config.pop("python_version", None)
        config["disable_version_check"] = True
        config["dash_version_url"] = ""
        return config


def create_app(folder: ReleasedFolder, *, token: str | None = None) -> dash.Dash:
    """The dashboard of a loaded released folder (see :func:`sndslab.dashboard.serve`)."""
    assets = resources.files("sndslab.dashboard").joinpath("assets")
    app = _Dash(
        __name__,
        assets_folder=str(Path(str(assets))),
        serve_locally=True,
        title="sndslab",
        update_title=None,  # type: ignore[arg-type]  # documented: None = keep the title
        compress=False,
    )
    app.config.suppress_callback_exceptions = False
    app.index_string = app.index_string.replace("<html>", '<html lang="fr">', 1)
    app.layout = html.Div(
        [
            html.A(t("skip", "fr"), href="#content", className="skip", id="skip"),
            dcc.Location(id="url", refresh=False),
            dcc.Store(id="selection"),
            html.Header(
                [
                    html.H1(t("title", "fr"), id="page-title"),
                    html.P(f"{t('release', 'fr')} {folder.release_id}", id="release-id"),
                ]
            ),
            html.Div(id="message", role="alert", **_ARIA_LIVE),
            html.Nav(
                dcc.RadioItems(
                    id="view",
                    options=[],
                    inline=True,
                    className="views",
                    inputClassName="radio-input",
                    labelClassName="view-tab",
                ),
                **_ARIA_VIEWS,
            ),
            _controls("fr"),
            html.Main(
                [
                    dcc.Loading(
                        dcc.Graph(
                            id="figure",
                            config={
                                "displaylogo": False,
                                "scrollZoom": False,
                                # the base map is the vendored GeoJSON: plotly's world layers are
                                # an empty local topology, never fetched from its CDN
                                "topojsonURL": "/assets/topojson/",
                            },
                        ),
                        delay_show=400,
                    ),
                    html.Div(id="view-text"),
                    html.Div(id="table"),
                    html.P([html.A(id="download", href="", download="", children="")]),
                    html.P([html.A(id="permalink", href="", children="")]),
                    html.Section(id="about", className="about"),
                ],
                id="content",
                tabIndex="-1",
            ),
        ],
        lang="fr",
        id="page",
    )

    outputs = [Output("url", "search")] + [Output(c, "value") for c in _CONTROLS]
    outputs += [Output(c, "options") for c in _CONTROLS]
    outputs += [Output(f"label-{c}", "children") for c in _LABELS if c != "view"]
    outputs += [
        Output("message", "children"),
        Output("selection", "data"),
        Output("page-title", "children"),
        Output("skip", "children"),
        Output("page", "lang"),
    ]

    @app.callback(
        outputs,
        [Input("url", "search")]
        + [Input(c, "value") for c in _CONTROLS]
        + [Input("figure", "clickData")],
    )
    def sync(search: str | None, *values: Any) -> list[Any]:
        return sync_selection(folder, search, dash.ctx.triggered_id, values)

    @app.callback(
        [
            Output("figure", "figure"),
            Output("figure", "style"),
            Output("view-text", "children"),
            Output("table", "children"),
            Output("download", "href"),
            Output("download", "children"),
            Output("permalink", "href"),
            Output("permalink", "children"),
            Output("about", "children"),
        ],
        Input("selection", "data"),
        State("url", "href"),
    )
    def draw(query: str | None, href: str | None) -> list[Any]:
        return render(folder, query, href)

    _harden(app, folder, token)
    return app


def _ranking_table(folder: ReleasedFolder, sel: Selection, rows: Any) -> html.Table:
    keys = ("rank", "name", "code", "value", "ci", "numerator", "denominator")
    body = ranking(folder, sel, rows)
    return html.Table(
        [
            html.Caption(f"{folder.indicators[sel.indicator].title(sel.lang)} — {sel.period}"),
            html.Thead(html.Tr([html.Th(t(k, sel.lang), scope="col") for k in keys])),
            html.Tbody(
                [
                    html.Tr(
                        [html.Td(r[k]) for k in keys],
                        className="secret" if r["value"] == SUPPRESSED[sel.lang] else None,
                    )
                    for r in body
                ]
            ),
        ],
        className="ranking",
        id="ranking-table",
    )


def _about(folder: ReleasedFolder, sel: Selection, stem: str, rows: Any) -> list[Any]:
    lang = sel.lang
    secret = int((rows["status"] == "suppressed").sum()) if "status" in rows else 0
    items: list[Any] = []
    if sel.view != "pathways":
        data = folder.indicators[sel.indicator]
        about = data.about
        items.append(html.H2(data.title(lang)))
        for key, field in (
            ("definition", f"definition_{lang}"),
            ("source", "source"),
            ("population", "population"),
            ("standardisation", "standardisation"),
        ):
            value = about.get(field) or about.get("definition_fr" if key == "definition" else "")
            items.append(html.P([html.Strong(f"{t(key, lang)} : "), value or t("not_given", lang)]))
    else:
        text = folder.descriptions.get(stem, "")
        items.append(
            html.H2(pathway_title(sel.pathway, lang) if sel.pathway else t("pathways", lang))
        )
        items.append(
            html.P([html.Strong(f"{t('definition', lang)} : "), text or t("not_given", lang)])
        )
    items.append(
        html.P([html.Strong(f"{t('release', lang)} : "), f"{folder.release_id}, {stem}.csv"])
    )
    items.append(html.P(f"{secret} {t('suppressed_cells', lang)}", id="secret-count"))
    return items


def _harden(app: dash.Dash, folder: ReleasedFolder, token: str | None) -> None:
    server = app.server
    hashes = " ".join(app.csp_hashes())
    csp = (
        "default-src 'self'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )

    @server.before_request
    def _gate() -> Response | None:
        path = request.path
        if not (path in _ALLOWED_PATHS or path.startswith(_ALLOWED_PREFIXES)) or ".." in path:
            return Response("not found\n", status=404, mimetype="text/plain")
        if token is not None:
            given = (
                request.cookies.get(TOKEN_COOKIE)
                or request.args.get("token")
                or request.headers.get("Authorization", "").removeprefix("Bearer ")
            )
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                return Response(
                    "authentication required: open the URL printed at start (?token=...)\n",
                    status=401,
                    mimetype="text/plain",
                )
        return None

    @server.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers.pop("Server", None)
        if token is not None and request.args.get("token") == token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    @server.errorhandler(DependencyException)
    def _unknown_script(_: DependencyException) -> Response:
        return Response("not found\n", status=404, mimetype="text/plain")

    @server.route("/download.csv")
    def _download() -> Response:
        query = urlencode({k: v for k, v in request.args.items() if k != "token"})
        sel, messages = parse_query(folder, query)
        if messages:
            return Response("\n".join(messages) + "\n", status=400, mimetype="text/plain")
        stem, rows = shown_rows(folder, sel)
        lines = folder.csv_lines.get(stem)
        if lines is None:
            return Response(t("no_pathway", sel.lang) + "\n", status=404, mimetype="text/plain")
        body = "\n".join([lines[0], *(lines[i + 1] for i in rows.index)]) + "\n"
        name = f"{stem}__{sel.view}.csv"
        return Response(
            body,
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def sync_selection(
    folder: ReleasedFolder, search: str | None, trigger: Any, values: Any
) -> list[Any]:
    """URL ⇄ controls: the URL on load, the controls (or a click on a territory) afterwards.
    Returns the URL query, the controls' values, options and labels, the page's messages and
    the selection (the query) the views are drawn from."""
    click = values[-1]
    if trigger in _CONTROLS or trigger == "figure":
        current, _ = parse_query(folder, search or "")
        asked = dict(zip(_CONTROLS, values[:-1], strict=True))
        changes = {k: str(v) for k, v in asked.items() if v is not None}
        if trigger == "figure" and click and click.get("points"):
            code = click["points"][0].get("customdata")
            if isinstance(code, str):
                changes["territory"] = code
        if trigger == "level" and changes.get("level") != current.level:
            changes["territory"] = "ALL"
        query = to_query(replace_selection(current, **changes))
    else:
        query = (search or "").lstrip("?")
    sel, messages = parse_query(folder, query)
    opts = options(folder, sel)
    lang = sel.lang
    labels = [t(c, lang) for c in _LABELS if c != "view"]
    message = [html.P(m) for m in messages] + [
        html.P(f"{t('warning', lang)} : {w}") for w in folder.warnings
    ]
    return (
        ["?" + to_query(sel)]
        + [getattr(sel, c) for c in _CONTROLS]
        + [opts[c] for c in _CONTROLS]
        + labels
        + [message, to_query(sel), t("title", lang), t("skip", lang), lang]
    )


def render(folder: ReleasedFolder, query: str | None, href: str | None) -> list[Any]:
    """The chosen view: figure (hidden when none), text under it, ranking table, download
    and permalink links, and what the release says about the indicator."""
    sel, _ = parse_query(folder, query or "")
    lang = sel.lang
    stem, rows = shown_rows(folder, sel)
    base = (href or "").split("?")[0]
    download = [f"download.csv?{to_query(sel)}", t("download", lang)]
    link = [f"{base}?{to_query(sel)}", t("permalink", lang)]
    about = _about(folder, sel, stem, rows)
    hidden = {"display": "none"}
    if sel.view == "pathways" and rows.empty:
        notice = t("no_pathway" if not folder.pathways else "no_pathway_here", lang)
        return [
            {},
            hidden,
            html.P(notice, className="notice", id="notice"),
            None,
            *download,
            *link,
            about,
        ]
    if sel.view == "pyramid" and rows.empty:
        return [
            {},
            hidden,
            html.P(t("no_age", lang), className="notice", id="notice"),
            None,
            *download,
            *link,
            about,
        ]
    if sel.view == "ranking":
        return [{}, hidden, None, _ranking_table(folder, sel, rows), *download, *link, about]
    fig, note = figure(folder, sel, rows)
    text: list[Any] = [html.P(note)] if note else []
    if sel.view == "pyramid" and sel.level == "departement" and sel.territory != "ALL":
        region = territory_name("region", str(rows["region"].iloc[0]), lang)
        text.append(html.P(t("pyramid_region", lang).format(region=region)))
    if sel.view == "map":
        code_col = "departement" if sel.level == "departement" else "region"
        overseas = rows[rows[code_col].isin(OVERSEAS[sel.level])]
        names = ", ".join(territory_name(sel.level, c, lang) for c in overseas[code_col])
        text.append(html.P(f"{t('overseas', lang)} {names}", className="overseas"))
    return [fig, {}, text, None, *download, *link, about]
