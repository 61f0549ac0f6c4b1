"""Sankey and sunburst figures of a released ``pathways__transitions`` table (plotly, extra
``[dashboard]``), built from released cells only.

A suppressed branch is never drawn as 0 nor given a width of its own: the suppressed children of
a published branch are drawn as one grey "secret statistique" branch whose width is the branch
minus its published children (a difference of published cells, so it discloses nothing), and
the descendants of a suppressed branch are inside it.

>>> import pyarrow as pa
>>> t = pa.table({"pathway": ["hip_fracture_65"] * 4, "period": ["2019"] * 4,
...               "region": ["ALL"] * 4, "departement": ["ALL"] * 4,
...               "path": ["ALL", "ssr", "home", "mco"], "persons": [40, 25, None, None],
...               "status": ["published", "published", "suppressed", "suppressed"]})
>>> tree = pathway_tree(t, "hip_fracture_65")
>>> [(n.path, n.persons, n.secret) for n in tree]
[('ALL', 40, False), ('ssr', 25, False), ('ALL > secret', 15, True)]
>>> fig = sankey_figure(t, "hip_fracture_65")
>>> fig.data[0].type, list(fig.data[0].link.value)
('sankey', [25, 15])
>>> transition_columns(t).column("to_state").to_pylist()
[None, 'ssr', 'home', 'mco']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sndslab.pathways._spec import OTHER, PathwaySpec, PathwaySpecError, load_pathways
from sndslab.pathways._sql import SEP
from sndslab.release import STATUS_COLUMN

__all__ = [
    "SECRET_LABEL",
    "TreeNode",
    "pathway_tree",
    "sankey_figure",
    "sunburst_figure",
    "transition_columns",
]

Lang = Literal["fr", "en"]
SECRET_LABEL = {"fr": "secret statistique", "en": "statistical secrecy"}
#: Paul Tol's "muted" scheme (colour-blind safe), then greys for ``other`` and secrecy.
_PALETTE = (
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
    "#AA4499", "#6699CC",
)  # fmt: skip
_OTHER_COLOUR, _SECRET_COLOUR, _INDEX_COLOUR = "#BBBBBB", "#DDDDDD", "#555555"
_SECRET = "secret"


@dataclass(frozen=True)
class TreeNode:
    """A drawable branch: its path, parent path ('' for the cohort), persons, depth, state and
    whether it stands for the suppressed children of its parent."""

    path: str
    parent: str
    persons: int
    depth: int
    state: str
    secret: bool = False


def _read(table: pa.Table | str | Path) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    path = Path(table)
    if path.is_dir():
        path = path / "pathways__transitions.parquet"
    return pq.read_table(path)


def _spec(name: str) -> PathwaySpec | None:
    try:
        return load_pathways([name])[0]
    except PathwaySpecError:
        return None


def transition_columns(table: pa.Table | str | Path) -> pa.Table:
    """A released ``pathways__transitions`` table with the derived columns ``step`` (0 for
    the cohort row ``ALL``), ``from_window``, ``from_state``, ``to_window``, ``to_state``
    (window names of the pathway's spec; ``index`` for the index stay)."""
    t = _read(table)
    paths = t.column("path").to_pylist()
    pathways = t.column("pathway").to_pylist()
    specs: dict[str, PathwaySpec | None] = {}
    step, fw, fs, tw, ts = [], [], [], [], []
    for name, path in zip(pathways, paths, strict=True):
        if name not in specs:
            specs[name] = _spec(name)
        spec = specs[name]
        states = [] if path == "ALL" else path.split(SEP)
        j = len(states)

        def window(i: int, spec: PathwaySpec | None = spec) -> str:
            if i == 0:
                return "index"
            return spec.windows[i - 1].name if spec and i <= len(spec.windows) else f"w{i}"

        step.append(j)
        fw.append(window(j - 1) if j else None)
        fs.append((states[j - 2] if j > 1 else "index") if j else None)
        tw.append(window(j) if j else None)
        ts.append(states[-1] if j else None)
    for name, values, typ in (
        ("step", step, pa.int64()),
        ("from_window", fw, pa.string()),
        ("from_state", fs, pa.string()),
        ("to_window", tw, pa.string()),
        ("to_state", ts, pa.string()),
    ):
        t = t.append_column(name, pa.array(values, typ))
    return t


def _select(
    t: pa.Table, pathway: str, region: str, departement: str, period: str | None
) -> pa.Table:
    mask = pc.and_(
        pc.equal(t.column("pathway"), pathway),
        pc.and_(
            pc.equal(t.column("region"), region), pc.equal(t.column("departement"), departement)
        ),
    )
    rows = t.filter(mask)
    if not rows.num_rows:
        raise PathwaySpecError(
            f"no released row for pathway {pathway!r}, territory {region}/{departement}"
        )
    periods = sorted(set(rows.column("period").to_pylist()))
    chosen = period if period is not None else periods[-1]
    if chosen not in periods:
        raise PathwaySpecError(
            f"pathway {pathway!r}: no period {chosen!r} (released: {', '.join(periods)})"
        )
    return rows.filter(pc.equal(rows.column("period"), chosen))


def pathway_tree(
    table: pa.Table | str | Path,
    pathway: str,
    region: str = "ALL",
    departement: str = "ALL",
    period: str | None = None,
) -> list[TreeNode]:
    """The drawable branches of one pathway, territory and period (default: the latest), from
    the cohort down: published branches under published parents, and one secret node per
    published parent with suppressed children (width = parent - published children)."""
    rows = _select(_read(table), pathway, region, departement, period)
    persons = dict(
        zip(rows.column("path").to_pylist(), rows.column("persons").to_pylist(), strict=True)
    )
    status = dict(
        zip(rows.column("path").to_pylist(), rows.column(STATUS_COLUMN).to_pylist(), strict=True)
    )
    children: dict[str, list[str]] = {}
    for p in persons:
        if p != "ALL":
            children.setdefault(p.rsplit(SEP, 1)[0] if SEP in p else "ALL", []).append(p)
    if status.get("ALL") != "published":
        return []
    out = [TreeNode("ALL", "", int(persons["ALL"]), 0, "index")]
    stack = [("ALL", 0)]
    while stack:
        parent, depth = stack.pop(0)
        kids = sorted(children.get(parent, []))
        shown = [k for k in kids if status[k] == "published" and (persons[k] or 0) > 0]
        hidden = [k for k in kids if status[k] != "published"]
        for k in shown:
            out.append(TreeNode(k, parent, int(persons[k]), depth + 1, k.rsplit(SEP, 1)[-1]))
            stack.append((k, depth + 1))
        if hidden:
            rest = int(persons[parent]) - sum(int(persons[k]) for k in shown)
            if rest > 0:
                out.append(TreeNode(f"{parent}{SEP}{_SECRET}", parent, rest, depth + 1,
                                    _SECRET, secret=True))  # fmt: skip
    return out


def _labels(spec: PathwaySpec | None, lang: Lang) -> tuple[dict[str, str], dict[str, str]]:
    """State → label and state → colour."""
    labels = {_SECRET: SECRET_LABEL[lang]}
    colours = {_SECRET: _SECRET_COLOUR, OTHER: _OTHER_COLOUR, "index": _INDEX_COLOUR}
    if spec is not None:
        for i, s in enumerate(spec.states):
            labels[s.name] = spec.label(s.name, lang)
            colours[s.name] = _PALETTE[i % len(_PALETTE)]
        labels[OTHER] = spec.label(OTHER, lang)
        labels["index"] = spec.label("index", lang)
    return labels, colours


def _title(spec: PathwaySpec | None, pathway: str, region: str, departement: str,
           period: str | None, lang: Lang) -> str:  # fmt: skip
    name = str(getattr(spec.title, lang)) if spec else pathway
    where = (
        {"fr": "France", "en": "France"}[lang]
        if region == "ALL"
        else (f"région {region}" if departement == "ALL" else f"département {departement}")
    )
    return f"{name} — {where}" + (f", {period}" if period else "")


def sankey_figure(
    table: pa.Table | str | Path,
    pathway: str,
    region: str = "ALL",
    departement: str = "ALL",
    period: str | None = None,
    *,
    lang: Lang = "fr",
) -> Any:
    """A plotly Sankey diagram of the pathway tree (columns: the index stay, then each window)
    from a released ``pathways__transitions`` table (Arrow, Parquet file or released folder)."""
    import plotly.graph_objects as go

    spec = _spec(pathway)
    nodes = pathway_tree(table, pathway, region, departement, period)
    labels, colours = _labels(spec, lang)
    k = max((n.depth for n in nodes), default=0) or 1
    index = {n.path: i for i, n in enumerate(nodes)}
    persons = {"fr": "personnes", "en": "persons"}[lang]
    node_labels = [labels.get(n.state, n.state) for n in nodes]
    hover = [
        f"{(spec.window_label(n.depth, lang) if spec and n.depth <= len(spec.windows) else '')}"
        f"<br>{label}: {n.persons} {persons}"
        for n, label in zip(nodes, node_labels, strict=True)
    ]
    links = [n for n in nodes if n.parent]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": node_labels,
                "color": [colours.get(n.state, _OTHER_COLOUR) for n in nodes],
                "x": [0.001 + 0.998 * n.depth / k for n in nodes],
                "customdata": hover,
                "hovertemplate": "%{customdata}<extra></extra>",
                "pad": 12,
            },
            link={
                "source": [index[n.parent] for n in links],
                "target": [index[n.path] for n in links],
                "value": [n.persons for n in links],
                "color": [
                    "rgba(221,221,221,0.6)" if n.secret else "rgba(136,136,136,0.35)" for n in links
                ],
            },
        )
    )
    return _finish(fig, nodes, _title(spec, pathway, region, departement, period, lang), lang)


def _finish(fig: Any, nodes: list[TreeNode], title: str, lang: Lang) -> Any:
    """Title; when the cohort itself is suppressed, say so (never draw it as 0)."""
    fig.update_layout(title=title)
    if not nodes:
        fig.add_annotation(
            text=f"{SECRET_LABEL[lang]}: "
            + {"fr": "effectif inférieur au seuil", "en": "count below the threshold"}[lang],
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
        )
    return fig


def sunburst_figure(
    table: pa.Table | str | Path,
    pathway: str,
    region: str = "ALL",
    departement: str = "ALL",
    period: str | None = None,
    *,
    lang: Lang = "fr",
) -> Any:
    """A plotly sunburst of the pathway tree (centre: the index cohort, rings: the windows)."""
    import plotly.graph_objects as go

    spec = _spec(pathway)
    nodes = pathway_tree(table, pathway, region, departement, period)
    labels, colours = _labels(spec, lang)
    fig = go.Figure(
        go.Sunburst(
            ids=[n.path for n in nodes],
            parents=[n.parent for n in nodes],
            values=[n.persons for n in nodes],
            labels=[labels.get(n.state, n.state) for n in nodes],
            marker={"colors": [colours.get(n.state, _OTHER_COLOUR) for n in nodes]},
            branchvalues="total",
        )
    )
    return _finish(fig, nodes, _title(spec, pathway, region, departement, period, lang), lang)
