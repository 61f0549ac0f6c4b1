"""The dashboard's selection (held by the URL), the released rows each view shows, and its
figures. Everything here reads a :class:`ReleasedFolder` only.

>>> sel = Selection(indicator="diabetes", period="2020", territory="034")
>>> to_query(sel)
'lang=fr&indicator=diabetes&level=departement&period=2020&sex=all&territory=034&measure=rate&view=map'
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa

from sndslab.dashboard._folder import IndicatorData, ReleasedFolder
from sndslab.dashboard._labels import (
    LANGS,
    OVERSEAS,
    SUPPRESSED,
    VIEWS,
    geojson,
    t,
    territory_name,
    to_geo_code,
)
from sndslab.indicators.stats import (
    FIRST_LOCKDOWN_FRANCE,
    funnel_limits,
    interrupted_time_series,
)
from sndslab.pathways import (
    SECRET_LABEL,
    PathwaySpec,
    PathwaySpecError,
    load_pathways,
    pathway_tree,
    sankey_figure,
    sunburst_figure,
)

Lang = Literal["fr", "en"]

__all__ = [
    "Selection",
    "figure",
    "parse_query",
    "shown_rows",
    "to_query",
]

#: Colour-blind-safe palettes: cividis for maps, Okabe-Ito for categories.
SEQUENTIAL = "Cividis"
BLUE, ORANGE, GREEN, GREY, BLACK = "#0072B2", "#E69F00", "#009E73", "#BDBDBD", "#000000"
SEXES = ("all", "1", "2")
LEVELS = ("departement", "region")
MEASURES = ("rate", "std_rate")


@dataclass(frozen=True)
class Selection:
    """What is shown: every field is a URL query parameter (the permalink)."""

    lang: str = "fr"
    indicator: str = ""
    level: str = "departement"
    period: str = ""
    sex: str = "all"
    territory: str = "ALL"
    measure: str = "rate"
    view: str = "map"
    pathway: str = ""


def to_query(sel: Selection) -> str:
    """The URL query string of a selection (empty fields left out)."""
    return urlencode({k: v for k, v in asdict(sel).items() if v})


def _territories(data: IndicatorData, level: str) -> list[str]:
    frame = data.territory
    if level == "departement":
        codes = frame.loc[frame["departement"] != "ALL", "departement"]
    else:
        codes = frame.loc[(frame["region"] != "ALL") & (frame["departement"] == "ALL"), "region"]
    return sorted(codes.unique().tolist())


def options(folder: ReleasedFolder, sel: Selection) -> dict[str, list[dict[str, str]]]:
    """The choices of each control for the current selection, labelled in its language."""
    data = folder.indicators[sel.indicator]
    lang = sel.lang
    territories = [{"label": t("france", lang), "value": "ALL"}] + [
        {"label": territory_name(sel.level, c, lang), "value": c}
        for c in _territories(data, sel.level)
    ]
    pathways = (
        sorted(folder.pathways["pathways__transitions"]["pathway"].unique().tolist())
        if "pathways__transitions" in folder.pathways
        else []
    )
    return {
        "indicator": [
            {"label": d.title(lang), "value": n} for n, d in sorted(folder.indicators.items())
        ],
        "period": [{"label": p, "value": p} for p in reversed(data.periods)],
        "territory": territories,
        "level": [{"label": t(v, lang), "value": v} for v in LEVELS],
        "sex": [{"label": t(f"sex_{v}", lang), "value": v} for v in SEXES],
        "measure": [
            {"label": t(v, lang), "value": v} for v in MEASURES if v == "rate" or data.standardised
        ],
        "view": [{"label": t(v, lang), "value": v} for v in VIEWS],
        "pathway": [{"label": pathway_title(p, lang), "value": p} for p in pathways],
        "lang": [{"label": "Français", "value": "fr"}, {"label": "English", "value": "en"}],
    }


def parse_query(folder: ReleasedFolder, query: str) -> tuple[Selection, list[str]]:
    """The selection a URL query asks for, with one message per unknown value (replaced by
    its default, never an error page)."""
    raw = {k: v[0] for k, v in parse_qs(query.lstrip("?"), keep_blank_values=True).items()}
    lang = raw.get("lang", "fr") if raw.get("lang", "fr") in LANGS else "fr"
    messages: list[str] = []

    def unknown(what: str, value: str, fallback: str) -> None:
        messages.append(t("unknown", lang).format(what=what, value=value, fallback=fallback))

    if raw.get("lang") not in (None, *LANGS):
        unknown("langue" if lang == "fr" else "language", raw["lang"], "fr")
    names = sorted(folder.indicators)
    default = "diabetes" if "diabetes" in names else names[0]
    indicator = raw.get("indicator", default)
    if indicator not in folder.indicators:
        unknown(t("indicator", lang).lower(), indicator, default)
        indicator = default
    data = folder.indicators[indicator]
    fields: dict[str, str] = {"lang": lang, "indicator": indicator}
    choices = {
        "level": (LEVELS, "departement"),
        "sex": (SEXES, "all"),
        "view": (VIEWS, "map"),
        "measure": (
            ("rate", "std_rate") if data.standardised else ("rate",),
            "std_rate" if data.standardised else "rate",
        ),
        "period": (tuple(data.periods), data.periods[-1]),
    }
    for key, (allowed, fallback) in choices.items():
        value = raw.get(key, fallback)
        if value not in allowed:
            if not (key == "measure" and value in MEASURES):  # std_rate of a crude indicator
                unknown(t(key, lang).lower(), value, fallback)
            value = fallback
        fields[key] = value
    territory = raw.get("territory", "ALL")
    if territory != "ALL" and territory not in _territories(data, fields["level"]):
        unknown(t("territory", lang).lower(), territory, t("france", lang))
        territory = "ALL"
    fields["territory"] = territory
    pathways = options(folder, Selection(**fields))["pathway"]
    pathway = raw.get("pathway", "")
    if pathway and pathway not in [p["value"] for p in pathways]:
        if pathways:
            unknown(t("pathway", lang).lower(), pathway, pathways[0]["value"])
        pathway = ""
    fields["pathway"] = pathway or (pathways[0]["value"] if pathways else "")
    return Selection(**fields), messages


def _territory_mask(frame: pd.DataFrame, level: str, code: str) -> pd.Series:
    if code == "ALL":
        return (frame["region"] == "ALL") & (frame["departement"] == "ALL")
    if level == "departement":
        return frame["departement"] == code
    return (frame["region"] == code) & (frame["departement"] == "ALL")


def _level_mask(frame: pd.DataFrame, level: str) -> pd.Series:
    if level == "departement":
        return frame["departement"] != "ALL"
    return (frame["region"] != "ALL") & (frame["departement"] == "ALL")


def _region_of(data: IndicatorData, sel: Selection) -> str:
    if sel.territory == "ALL":
        return "ALL"
    if sel.level == "region":
        return sel.territory
    frame = data.territory
    return str(frame.loc[frame["departement"] == sel.territory, "region"].iloc[0])


def pathway_period(folder: ReleasedFolder, sel: Selection) -> str:
    """The year of the pathway view: the selected period's year when the pathway is released
    for it, else the pathway's latest released year (the pathways' years need not be the
    indicator's)."""
    table = folder.pathways.get("pathways__transitions")
    if table is None:
        return sel.period[:4]
    years = sorted(table.loc[table["pathway"] == sel.pathway, "period"].astype(str).unique())
    return sel.period[:4] if not years or sel.period[:4] in years else years[-1]


def shown_rows(folder: ReleasedFolder, sel: Selection) -> tuple[str, pd.DataFrame]:
    """The released table (file stem) and its rows a view shows, unchanged (the CSV download
    serves exactly these rows of the released file)."""
    if sel.view == "pathways":
        table = folder.pathways.get("pathways__transitions")
        if table is None or not sel.pathway:
            return "pathways__transitions", pd.DataFrame()
        return "pathways__transitions", table[
            (table["pathway"] == sel.pathway)
            & (table["period"] == pathway_period(folder, sel))
            & _territory_mask(table, sel.level, sel.territory)
        ]
    data = folder.indicators[sel.indicator]
    frame = data.territory
    stem = f"{sel.indicator}__territory_sex"
    if sel.view == "pyramid":
        if data.age is None:
            return f"{sel.indicator}__region_age_sex", pd.DataFrame()
        age = data.age
        mask = (
            (age["period"] == sel.period)
            & (age["region"] == _region_of(data, sel))
            & age["sex"].isin(["1", "2"])
            & (age["age_band"] != "all")
        )
        return f"{sel.indicator}__region_age_sex", age[mask]
    if sel.view == "series":
        mask = (frame["sex"] == sel.sex) & (
            _territory_mask(frame, sel.level, sel.territory)
            | _territory_mask(frame, sel.level, "ALL")
        )
        return stem, frame[mask]
    here = (frame["period"] == sel.period) & (frame["sex"] == sel.sex)
    mask = here & _level_mask(frame, sel.level)
    if sel.view in ("funnel", "ranking"):
        mask |= here & _territory_mask(frame, sel.level, "ALL")
    return stem, frame[mask]


def _measure(data: IndicatorData, sel: Selection) -> tuple[str, str, str]:
    if sel.measure == "std_rate" and data.standardised:
        return "std_rate", "std_lower", "std_upper"
    return "rate", "rate_lower", "rate_upper"


def _unit(data: IndicatorData, lang: str) -> str:
    unit = data.about.get("unit", "")
    if unit and unit != "1":
        return f"{t('per', lang)} {int(unit):,}".replace(",", "\u202f")
    return ""


def _fmt(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3g}"


def _suppressed(frame: pd.DataFrame) -> pd.Series:
    return frame["status"] == "suppressed"


def _base_layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01},
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        font={"family": "system-ui, sans-serif", "size": 13},
        paper_bgcolor="white",
        plot_bgcolor="white",
        uirevision="keep",
    )
    return fig


def map_figure(folder: ReleasedFolder, sel: Selection, rows: pd.DataFrame) -> go.Figure:
    data = folder.indicators[sel.indicator]
    col, lo, hi = _measure(data, sel)
    code_col = "departement" if sel.level == "departement" else "region"
    rows = rows[~rows[code_col].isin(OVERSEAS[sel.level])]
    geo_codes = [to_geo_code(sel.level, c) for c in rows[code_col]]
    frame = rows.assign(geo=geo_codes)
    shown = frame[~_suppressed(frame) & frame[col].notna()]
    hidden = frame[_suppressed(frame)]
    gj = geojson(sel.level)
    lang = sel.lang
    fig = go.Figure()
    fig.add_trace(
        go.Choropleth(
            geojson=gj,
            featureidkey="properties.code",
            locations=shown["geo"],
            z=shown[col],
            customdata=shown[code_col],
            colorscale=SEQUENTIAL,
            marker={"line": {"color": "white", "width": 0.5}},
            colorbar={"title": {"text": _unit(data, lang)}},
            hovertext=[
                f"{territory_name(sel.level, c, lang)}<br>{t(col, lang)} : {_fmt(v)} "
                f"[{_fmt(a)} ; {_fmt(b)}]<br>{t('numerator', lang)} : {_fmt(n)}"
                for c, v, a, b, n in zip(
                    shown[code_col],
                    shown[col],
                    shown[lo],
                    shown[hi],
                    shown["numerator"],
                    strict=True,
                )
            ],
            hovertemplate="%{hovertext}<extra></extra>",
            name=t(col, lang),
        )
    )
    fig.add_trace(
        go.Choropleth(
            geojson=gj,
            featureidkey="properties.code",
            locations=hidden["geo"],
            z=np.zeros(len(hidden)),
            customdata=hidden[code_col],
            colorscale=[[0, GREY], [1, GREY]],
            showscale=False,
            marker={"line": {"color": "white", "width": 0.5}},
            hovertext=[
                f"{territory_name(sel.level, c, lang)}<br>{SUPPRESSED[lang]}"
                for c in hidden[code_col]
            ],
            hovertemplate="%{hovertext}<extra></extra>",
            name=SUPPRESSED[lang],
            showlegend=True,
        )
    )
    if sel.territory != "ALL" and sel.territory not in OVERSEAS[sel.level]:
        fig.add_trace(
            go.Choropleth(
                geojson=gj,
                featureidkey="properties.code",
                locations=[to_geo_code(sel.level, sel.territory)],
                z=[0],
                customdata=[sel.territory],
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
                showscale=False,
                marker={"line": {"color": BLACK, "width": 3}},
                hoverinfo="skip",
                name=territory_name(sel.level, sel.territory, lang),
            )
        )
    fig.update_geos(fitbounds="locations", visible=False)
    fig.add_annotation(
        text=t("attribution", lang),
        xref="paper",
        yref="paper",
        x=0,
        y=-0.02,
        showarrow=False,
        font={"size": 10, "color": "#333333"},
        xanchor="left",
        yanchor="top",
    )
    fig.update_layout(height=560, legend={"orientation": "h", "y": 1.02, "x": 0.5})
    return _base_layout(
        fig, f"{data.title(lang)} — {t(col, lang)} {_unit(data, lang)}, {sel.period}"
    )


def _period_x(period: str) -> str:
    return f"{period}-01" if len(period) == 7 else period


def _its(rows: pd.DataFrame, lang: str) -> tuple[str, dt.date | None]:
    """The level rate ratio of an interrupted time series at the first lockdown, fitted on the
    released monthly counts of one territory (none when a month is suppressed)."""
    if rows.empty or len(rows["period"].iloc[0]) != 7:
        return "", None
    months = np.array(rows["period"].tolist(), dtype="datetime64[M]")
    brk = np.datetime64(FIRST_LOCKDOWN_FRANCE, "M")
    if (months < brk).sum() < 6 or (months >= brk).sum() < 3:
        return "", None
    if _suppressed(rows).any() or (rows["denominator"] <= 0).any():
        return t("its_not", lang), FIRST_LOCKDOWN_FRANCE
    res = interrupted_time_series(
        rows["numerator"].round().to_numpy(),
        months,
        population=rows["denominator"].to_numpy(),
        family="quasipoisson",
    )
    rr = res.rate_ratio("level")
    text = t("its_level", lang).format(
        date=FIRST_LOCKDOWN_FRANCE.isoformat(),
        rr=f"{rr.estimate[0]:.2f}",
        lo=f"{rr.lower[0]:.2f}",
        hi=f"{rr.upper[0]:.2f}",
    )
    return text, FIRST_LOCKDOWN_FRANCE


def series_figure(
    folder: ReleasedFolder, sel: Selection, rows: pd.DataFrame
) -> tuple[go.Figure, str]:
    data = folder.indicators[sel.indicator]
    col, lo, hi = _measure(data, sel)
    lang = sel.lang
    fig = go.Figure()
    its_text = ""
    lines = [("ALL", t("france_ref", lang), GREY if sel.territory != "ALL" else BLUE, "dash")]
    if sel.territory != "ALL":
        lines.append((sel.territory, territory_name(sel.level, sel.territory, lang), BLUE, "solid"))
    for code, name, colour, dash in lines:
        part = rows[_territory_mask(rows, sel.level, code)].sort_values("period")
        x = [_period_x(p) for p in part["period"]]
        ok = ~_suppressed(part)
        fig.add_trace(
            go.Scatter(
                x=[v for v, k in zip(x, ok, strict=True) if k],
                y=part.loc[ok, col],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (part.loc[ok, hi] - part.loc[ok, col]).tolist(),
                    "arrayminus": (part.loc[ok, col] - part.loc[ok, lo]).tolist(),
                    "color": colour,
                    "thickness": 1,
                },
                mode="lines+markers",
                name=name,
                line={"color": colour, "dash": dash},
                connectgaps=False,
            )
        )
        if (~ok).any():
            fig.add_trace(
                go.Scatter(
                    x=[v for v, k in zip(x, ok, strict=True) if not k],
                    y=[0.02] * int((~ok).sum()),
                    yaxis="y2",
                    mode="markers",
                    name=f"{name} : {SUPPRESSED[lang]}",
                    marker={
                        "symbol": "x-thin-open",
                        "size": 10,
                        "color": colour,
                        "line": {"width": 2, "color": colour},
                    },
                    hovertemplate=f"%{{x}} : {SUPPRESSED[lang]}<extra></extra>",
                )
            )
        if code == sel.territory:
            its_text, brk = _its(part, lang)
            if brk is not None:
                fig.add_vline(x=brk.isoformat(), line={"dash": "dot", "color": ORANGE})
                fig.add_annotation(
                    x=brk.isoformat(),
                    y=1,
                    yref="paper",
                    showarrow=False,
                    text=t("its_break", lang),
                    xanchor="left",
                    font={"color": "#8a5a00"},
                )
    fig.update_layout(
        yaxis={"title": f"{t(col, lang)} {_unit(data, lang)}", "rangemode": "tozero"},
        yaxis2={"overlaying": "y", "range": [0, 1], "visible": False},
        legend={"orientation": "h", "y": -0.15},
        height=480,
    )
    title = f"{data.title(lang)} — {territory_name(sel.level, sel.territory, lang)}"
    return _base_layout(fig, title), its_text


def pyramid_figure(folder: ReleasedFolder, sel: Selection, rows: pd.DataFrame) -> go.Figure:
    data = folder.indicators[sel.indicator]
    lang = sel.lang
    fig = go.Figure()
    bands = sorted(rows["age_band"].unique().tolist())
    for sex, name, colour, sign in (
        ("1", t("men", lang), BLUE, -1),
        ("2", t("women", lang), ORANGE, 1),
    ):
        part = rows[rows["sex"] == sex].set_index("age_band").reindex(bands)
        ok = part["status"] != "suppressed"
        fig.add_trace(
            go.Bar(
                y=bands,
                x=[sign * v if k else None for v, k in zip(part["rate"], ok, strict=True)],
                orientation="h",
                name=name,
                marker={"color": colour},
                customdata=part["rate"],
                hovertemplate=f"{name} %{{y}} : %{{customdata:.3g}}<extra></extra>",
            )
        )
        for band, k in zip(bands, ok, strict=True):
            if not k:
                fig.add_annotation(
                    x=sign * 0.0,
                    y=band,
                    text=SUPPRESSED[lang],
                    showarrow=False,
                    xanchor="right" if sign < 0 else "left",
                    font={"color": "#444444", "size": 11},
                )
    rates = np.abs(rows["rate"].to_numpy(dtype=float))
    rates = rates[np.isfinite(rates)]  # every cell suppressed: no scale, no warning
    top = float(rates.max()) if rates.size else 0.0
    ticks = [float(v) for v in np.linspace(-top, top, 5)] if top > 0 else [0.0]
    fig.update_xaxes(tickvals=ticks, ticktext=[_fmt(abs(v)) for v in ticks])
    fig.update_layout(
        barmode="overlay",
        bargap=0.1,
        height=460,
        xaxis={"title": f"{t('rate', lang)} {_unit(data, lang)}"},
        legend={"orientation": "h", "y": -0.15},
    )
    region = _region_of(data, sel)
    return _base_layout(
        fig, f"{data.title(lang)} — {territory_name('region', region, lang)}, {sel.period}"
    )


def funnel_figure(
    folder: ReleasedFolder, sel: Selection, rows: pd.DataFrame
) -> tuple[go.Figure, str]:
    """Crude rates of the territories against their population, with exact limits around the
    France rate (Spiegelhalter 2005; :func:`sndslab.indicators.stats.funnel_limits`)."""
    data = folder.indicators[sel.indicator]
    lang = sel.lang
    unit = float(data.about.get("unit") or 1)
    france = rows[_territory_mask(rows, sel.level, "ALL") & ~_suppressed(rows)]
    units = rows[_level_mask(rows, sel.level) & ~_suppressed(rows) & (rows["denominator"] > 0)]
    fig = go.Figure()
    if france.empty or units.empty or not float(france["denominator"].iloc[0]) > 0:
        return _base_layout(fig, data.title(lang)), SUPPRESSED[lang]
    p0 = float(france["numerator"].iloc[0]) / float(france["denominator"].iloc[0])
    proportion = (
        0 < p0 < 1
        and bool((units["numerator"] <= units["denominator"]).all())
        and bool((units["denominator"] == units["denominator"].round()).all())
    )
    grid = np.unique(
        np.round(
            np.geomspace(
                max(1.0, float(units["denominator"].min()) * 0.8),
                float(units["denominator"].max()) * 1.2,
                120,
            )
        )
    )
    note = ""
    if p0 > 0:
        for level, dash, key in ((0.95, "dash", "limit95"), (0.998, "dot", "limit998")):
            if proportion:
                lim = funnel_limits(grid, p0, "proportion", level=level)
                lower, upper = lim.lower * unit, lim.upper * unit
            else:
                lim = funnel_limits(grid * p0, 1.0, "ratio", level=level)
                lower, upper = lim.lower * p0 * unit, lim.upper * p0 * unit
            for i, ys in enumerate((lower, upper)):
                fig.add_trace(
                    go.Scatter(
                        x=grid,
                        y=ys,
                        mode="lines",
                        name=t(key, lang),
                        line={"color": GREY if level < 0.99 else BLACK, "dash": dash, "width": 1},
                        showlegend=i == 0,
                        hoverinfo="skip",
                    )
                )
    else:
        note = t("france", lang) + " : 0"
    fig.add_hline(y=p0 * unit, line={"color": GREEN}, annotation_text=t("france", lang))
    code_col = "departement" if sel.level == "departement" else "region"
    chosen = units[code_col] == sel.territory
    for mask, colour, size in ((~chosen, BLUE, 8), (chosen, ORANGE, 14)):
        part = units[mask]
        fig.add_trace(
            go.Scatter(
                x=part["denominator"],
                y=part["numerator"] / part["denominator"] * unit,
                mode="markers",
                marker={"color": colour, "size": size, "line": {"width": 1, "color": "white"}},
                customdata=part[code_col],
                text=[territory_name(sel.level, c, lang) for c in part[code_col]],
                hovertemplate="%{text}<br>%{y:.3g} (n = %{x:,.0f})<extra></extra>",
                name=territory_name(sel.level, sel.territory, lang)
                if size > 8
                else t(sel.level, lang),
                showlegend=bool(mask.any()),
            )
        )
    fig.update_layout(
        xaxis={"title": t("denominator", lang), "type": "log"},
        yaxis={"title": f"{t('rate', lang)} {_unit(data, lang)}"},
        height=480,
        legend={"orientation": "h", "y": -0.2},
    )
    return _base_layout(fig, f"{data.title(lang)} — {sel.period}"), note


@functools.cache
def pathway_spec(name: str) -> PathwaySpec | None:
    """The shipped spec of a released pathway (titles, windows and state labels in French and
    English), ``None`` for a pathway this version does not know (shown by its name)."""
    try:
        return load_pathways([name])[0]
    except PathwaySpecError:
        return None


def pathway_title(name: str, lang: str) -> str:
    """The title of a pathway in ``lang`` (its name when the spec is unknown)."""
    spec = pathway_spec(name)
    return str(getattr(spec.title, "en" if lang == "en" else "fr")) if spec else name


def pathway_figure(sel: Selection, rows: pd.DataFrame) -> tuple[go.Figure, str]:
    """The released transitions of one pathway, territory and year drawn by
    :func:`sndslab.pathways.sankey_figure` (left) and :func:`sndslab.pathways.sunburst_figure`
    (right): state labels, windows and title from the pathway's spec; the suppressed children
    of a published branch are one grey "secret statistique" branch (the branch minus its
    published children), never 0; a suppressed cohort is said so. Returns the figure and a
    note on the suppressed branches."""
    lang: Lang = "en" if sel.lang == "en" else "fr"
    table = pa.Table.from_pandas(rows, preserve_index=False)
    where = {
        "pathway": sel.pathway,
        "region": str(rows["region"].iloc[0]),
        "departement": str(rows["departement"].iloc[0]),
        "period": str(rows["period"].iloc[0]),
    }
    sankey = sankey_figure(table, **where, lang=lang)
    nodes = pathway_tree(table, **where)
    fig = go.Figure(sankey.data[0].update(domain={"x": [0.0, 0.6]}))
    for note in sankey.layout.annotations:  # the cohort itself is secret
        fig.add_annotation(note)
    if nodes:
        fig.add_trace(
            sunburst_figure(table, **where, lang=lang).data[0].update(domain={"x": [0.64, 1.0]})
        )
    fig.update_layout(height=520)
    secret = int((rows["status"] == "suppressed").sum())
    if not nodes:
        note = t("pathway_cohort_secret", lang)
        if sel.territory != "ALL":
            note += " " + t("pathway_wider", lang)
    elif secret:
        note = t("pathway_secret", lang).format(n=secret, label=SECRET_LABEL[lang])
    else:
        note = ""
    if where["period"] != sel.period[:4]:
        year = t("pathway_year", lang).format(asked=sel.period[:4], year=where["period"])
        note = f"{year} {note}".strip()
    title = (
        f"{pathway_title(sel.pathway, lang)} — "
        f"{territory_name(sel.level, sel.territory, lang)}, {where['period']}"
    )
    return _base_layout(fig, title), note


def figure(folder: ReleasedFolder, sel: Selection, rows: pd.DataFrame) -> tuple[go.Figure, str]:
    """The figure of ``sel.view`` and a note to print under it."""
    if sel.view == "map":
        return map_figure(folder, sel, rows), ""
    if sel.view == "series":
        return series_figure(folder, sel, rows)
    if sel.view == "pyramid":
        return pyramid_figure(folder, sel, rows), ""
    if sel.view == "funnel":
        return funnel_figure(folder, sel, rows)
    if sel.view == "pathways":
        return pathway_figure(sel, rows)
    return go.Figure(), ""


def ranking(folder: ReleasedFolder, sel: Selection, rows: pd.DataFrame) -> list[dict[str, str]]:
    """The ranking table's rows: territories by decreasing value, suppressed ones last (shown
    as "secret statistique"); France first, as the reference."""
    data = folder.indicators[sel.indicator]
    col, lo, hi = _measure(data, sel)
    code_col = "departement" if sel.level == "departement" else "region"
    lang = sel.lang
    france = rows[_territory_mask(rows, sel.level, "ALL")]
    units = rows[_level_mask(rows, sel.level)]
    ok = units[~_suppressed(units) & units[col].notna()].sort_values(col, ascending=False)
    rest = units.drop(ok.index).sort_values(code_col)
    out = []
    for rank, (_, r) in enumerate([*france.iterrows(), *ok.iterrows(), *rest.iterrows()]):
        is_france = rank < len(france)
        secret = r["status"] == "suppressed"
        code = "ALL" if is_france else str(r[code_col])
        out.append(
            {
                "rank": ""
                if is_france or secret or pd.isna(r[col])
                else str(rank + 1 - len(france)),
                "name": territory_name(sel.level, code, lang),
                "code": code,
                "value": SUPPRESSED[lang] if secret else _fmt(r[col]),
                "ci": "" if secret else f"[{_fmt(r[lo])} ; {_fmt(r[hi])}]",
                "numerator": SUPPRESSED[lang] if secret else _fmt(r["numerator"]),
                "denominator": SUPPRESSED[lang] if secret else _fmt(r["denominator"]),
            }
        )
    return out


def replace_selection(sel: Selection, **changes: str) -> Selection:
    """``sel`` with ``changes`` (a thin alias of :func:`dataclasses.replace`)."""
    return replace(sel, **changes)
