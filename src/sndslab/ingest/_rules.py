"""Quality rules: declarative YAML specs (``rules/*.yaml``) and their Python twin.

A rule names one documented SNDS cleaning step, cites its source and can be switched off
(``enabled: false``) without re-ingesting: staging (``stg.<TABLE>``) keeps every parsed row and
the rules are applied afterwards by :func:`apply_rules`, which writes the kept rows as the
internal dataset ``clean__<TABLE>`` of the ``int`` generation being built and returns
:class:`RuleCounts`.

Kinds
-----
``row``
    ``exclude_when`` is a DuckDB SQL boolean expression over the columns of one staged row
    (a string for every table of the rule, or a mapping ``table -> expression``). ``NULL``
    counts as "do not exclude".
``group``
    regularisation netting (``dcir_regularisation_netting``): ``params.group_by`` lists the
    grouping expressions, ``params.quantity`` the signed quantity, ``params.order_by`` the
    order in which positive lines are cancelled; every negative line is excluded with as many
    positive lines of its group as it cancels (:func:`_netting_sql`).
``join``
    needs another table: ``params.join_table`` is joined on ``params.join_keys`` (DCIR 9 keys)
    and ``exclude_when`` is evaluated over the joined columns (prefixed ``j.``).
``transform``
    not a filter: ``params.set`` maps a column to a SQL expression that normalises it
    (e.g. the 1600-01-01 open-end sentinel of IR_IMB_R becomes ``NULL``). Rows stay kept; the
    number of rows changed is counted.

Parameters are substituted into the SQL with ``{{name}}``: a list becomes a SQL list of quoted
literals (``'a', 'b'``), a scalar its literal text. The special parameter value
``"referential:finess_geo_duplicates"`` expands to the curated list of geographic FINESS
(:func:`sndslab.referentials.finess_geo_duplicates`).

Tables
------
What :func:`apply_rules` can apply is checked when a rule is loaded (:func:`supported_tables`):
``row`` rules apply to every table that decides for its own rows, i.e. not to a DCIR
satellite nor to a PMSI child that is not a decider (their rows follow the decision of their
prestation line or stay); ``transform`` rules to any table; ``group`` and ``join`` rules to the
DCIR prestation table ER_PRS_F only, and a ``join`` only to a DCIR satellite on the DCIR keys
(:func:`sndslab.registry.dcir_satellites`). Anything else is refused at load time instead of
being listed as enabled and never applied.

Order
-----
Every rule file carries an integer ``order:`` (built-in rules: 10, 20, …, 140, gaps left for
user rules): lower orders are tried first. Every staged row is attributed to the FIRST enabled
rule it matches, so every row is counted once (kept, or filtered by exactly one rule). Two rule
files with the same order are refused at load time. Independent match counts (a row matching
several rules counted for each) are also reported. The built-in order: identity-free artefacts
that make a line meaningless come first (information lines, unusable dates), then structural
duplicates, then netting, then the analysis-specific surcharge rule; then the PMSI rules and the
IR_IMB_R ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sndslab.engines import Connection
from sndslab.errors import InvalidArgumentError
from sndslab.lake import GenerationWriter, LakePaths, known_tables, relation
from sndslab.registry import (
    DCIR_JOIN_KEYS,
    DCIR_PRESTATION_TABLE,
    dcir_satellites,
    get_table,
    list_tables,
    pmsi_families,
)

__all__ = [
    "QualityRule",
    "RuleCounts",
    "YearSpan",
    "apply_rules",
    "load_rules",
    "render_sql",
]

RuleKind = Literal["row", "group", "join", "transform"]

_PARAM = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class YearSpan(BaseModel):
    """Inclusive range of data years a rule applies to (``None``: unbounded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    first: int | None = None
    last: int | None = None


class QualityRule(BaseModel):
    """One quality rule (the Python twin of a ``rules/<name>.yaml`` file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    table: tuple[str, ...]
    description: str
    source: str
    enabled: bool = True
    kind: RuleKind
    order: int = Field(strict=True)
    exclude_when: str | dict[str, str] | None = None
    applies_to_years: YearSpan | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("table", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("table")
    @classmethod
    def _known_tables(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = set(list_tables())
        unknown = [t for t in value if t not in known]
        if unknown:
            raise ValueError(f"unknown table(s) {unknown}")
        return value

    def model_post_init(self, __context: Any) -> None:
        if self.kind in ("row", "join") and not (self.exclude_when or self.params.get("columns")):
            raise ValueError(f"rule {self.name}: kind {self.kind!r} needs exclude_when")
        if self.kind == "group":
            for p in ("group_by", "quantity"):
                if p not in self.params:
                    raise ValueError(f"rule {self.name}: kind 'group' needs params.{p}")
        if self.kind == "join":
            for p in ("join_table", "join_keys"):
                if p not in self.params:
                    raise ValueError(f"rule {self.name}: kind 'join' needs params.{p}")
        if self.kind == "transform" and not self.params.get("set"):
            raise ValueError(f"rule {self.name}: kind 'transform' needs params.set")
        if isinstance(self.exclude_when, dict):
            extra = set(self.exclude_when) - set(self.table)
            if extra:
                raise ValueError(f"rule {self.name}: exclude_when for unlisted tables {extra}")
        for table in self.table:
            self._check_columns(table)
        self._check_applicable()

    def _check_applicable(self) -> None:
        """Refuse what :func:`apply_rules` would never apply (nothing silent)."""
        supported = supported_tables()[self.kind]
        for table in self.table:
            if table not in supported:
                raise ValueError(
                    f"rule {self.name}: kind {self.kind!r} cannot apply to table {table} "
                    f"(supported: {_describe(self.kind)})"
                )
        if self.kind == "join":
            jt = self.params["join_table"]
            sats = sorted(dcir_satellites())
            if jt not in sats:
                raise ValueError(
                    f"rule {self.name}: kind 'join' on table {self.table[0]}: join_table {jt!r} "
                    f"is not a DCIR satellite ({', '.join(sats)})"
                )
            keys = self.params["join_keys"]
            if not isinstance(keys, list | tuple) or sorted(map(str, keys)) != sorted(
                DCIR_JOIN_KEYS
            ):
                raise ValueError(
                    f"rule {self.name}: kind 'join' on table {self.table[0]}: join_keys {keys} "
                    f"are not the DCIR keys ({', '.join(DCIR_JOIN_KEYS)})"
                )

    def _check_columns(self, table: str) -> None:
        """Columns named in params.columns must exist in the registry (catches typos)."""
        cols = self.params.get("columns", {})
        if isinstance(cols, dict):
            names = set(get_table(table).column_names)
            missing = [c for c in cols.get(table, []) if c not in names]
            if missing:
                raise ValueError(f"rule {self.name}: {table} has no column(s) {missing}")

    def expression(self, table: str) -> str | None:
        """Rendered ``exclude_when`` for ``table`` (``None`` if the rule does not cover it)."""
        if table not in self.table:
            return None
        expr = self.exclude_when
        if isinstance(expr, dict):
            expr = expr.get(table)
        if expr is None:
            cols = self.params.get("columns", {}).get(table)
            if not cols:
                return None
            # any listed code not valid; a column missing in a year's files is NULL -> valid
            expr = " OR ".join(f"COALESCE(CAST({c} AS VARCHAR), '0') <> '0'" for c in cols)
        return render_sql(expr, self.params)

    def year_condition(self, year_column: str = "_year") -> str:
        """SQL condition restricting the rule to ``applies_to_years`` (``TRUE`` if none)."""
        span = self.applies_to_years
        if span is None or (span.first is None and span.last is None):
            return "TRUE"
        parts = []
        if span.first is not None:
            parts.append(f"{year_column} >= {int(span.first)}")
        if span.last is not None:
            parts.append(f"{year_column} <= {int(span.last)}")
        return f"({year_column} IS NOT NULL AND {' AND '.join(parts)})"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _param_values(value: Any) -> Any:
    if value == "referential:finess_geo_duplicates":
        from sndslab.referentials import finess_geo_duplicates

        return sorted(finess_geo_duplicates())
    return value


def render_sql(template: str, params: dict[str, Any]) -> str:
    """Substitute ``{{name}}`` in ``template`` (lists become SQL lists of literals).

    >>> render_sql("x IN ({{v}}) AND y > {{n}}", {"v": ["a", "b"], "n": 6})
    "x IN ('a', 'b') AND y > 6"
    """

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise InvalidArgumentError(f"rule SQL uses unknown parameter {{{{{name}}}}}")
        value = _param_values(params[name])
        if isinstance(value, list | tuple):
            return ", ".join(_literal(v) for v in value)
        return value if isinstance(value, str) else _literal(value)

    return _PARAM.sub(sub, template)


def _builtin_dir() -> Path:
    return Path(str(resources.files("sndslab.ingest").joinpath("rules")))


def load_rules(
    directory: Path | None = None, *, overrides: dict[str, dict[str, Any]] | None = None
) -> list[QualityRule]:
    """Load and validate every ``*.yaml`` rule of ``directory`` (default: the built-in rules).

    ``overrides`` maps a rule name to field values replacing those of the file, e.g.
    ``{"dcir_surcharge_lines": {"enabled": False}}``. Returns the rules sorted by ``order``;
    two files with the same ``order`` are refused.
    """
    directory = Path(directory) if directory is not None else _builtin_dir()
    rules: list[QualityRule] = []
    seen: dict[int, Path] = {}
    overrides = dict(overrides or {})
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(f"rule file {path}: invalid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"rule file {path}: expected a mapping")
        if data.get("name") in overrides:
            data = {**data, **overrides.pop(data["name"])}
        try:
            rule = QualityRule.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(map(str, first["loc"]))
            msg = first["msg"].removeprefix("Value error, ")
            raise InvalidArgumentError(
                f"rule file {path}: {loc + ': ' if loc else ''}{msg}"
            ) from None
        if rule.name != path.stem:
            raise InvalidArgumentError(f"rule file {path}: name {rule.name!r} != file name")
        if rule.order in seen:
            raise InvalidArgumentError(
                f"rule files {seen[rule.order]} and {path}: same order {rule.order}"
            )
        seen[rule.order] = path
        rules.append(rule)
    if overrides:
        raise InvalidArgumentError(f"overrides for unknown rules: {sorted(overrides)}")
    return sorted(rules, key=lambda r: (r.order, r.name))


# =============================================================================================
# Applying the rules
# =============================================================================================

#: DCIR join key between ER_PRS_F and its satellites.
DCIR_KEYS: tuple[str, ...] = DCIR_JOIN_KEYS
#: DCIR satellites and the column holding their code (used by the netting group key), and
#: the PMSI products (scalpel3.md §2.3), both derived from the registry's foreign keys.
DCIR_SATELLITES = dcir_satellites()
PMSI_FAMILIES = pmsi_families()


@cache
def supported_tables() -> Mapping[str, frozenset[str]]:
    """The tables :func:`apply_rules` applies each rule kind to (checked at load time).

    ``row``: every table except those whose rows inherit a parent's decision (DCIR satellites,
    PMSI children that are not deciders); ``transform``: every table; ``group`` and ``join``:
    the DCIR prestation table (see :func:`_flag_dcir`).
    """
    every = frozenset(list_tables())
    inherit = set(DCIR_SATELLITES)
    for family in PMSI_FAMILIES.values():
        inherit |= set(family.children) - set(family.deciders)
    dcir = frozenset({DCIR_PRESTATION_TABLE})
    return MappingProxyType(
        {"row": every - inherit, "transform": every, "group": dcir, "join": dcir}
    )


def _describe(kind: str) -> str:
    tables = supported_tables()[kind]
    if kind in ("group", "join"):
        return ", ".join(sorted(tables))
    if kind == "row":
        return "any table but the DCIR satellites and the non-deciding PMSI children"
    return "any table"


ORPHAN_REASON = "orphan_satellite_row"
QUARANTINE_COLUMNS = ("_source_file", "_source_line", "reason", "column", "raw_value", "detail")


class RuleCounts(BaseModel):
    """Row accounting of :func:`apply_rules`, per staged table.

    ``filtered[table][rule]`` counts rows attributed to ``rule`` (first match in the fixed
    order, inherited from the parent line or stay for satellites): every row counted once, so
    ``rows_in == kept + Σ filtered + orphans``. ``matched[table][rule]`` counts rows matching
    the rule's own predicate on that table, independently of the other rules (a row can be
    counted under several rules). ``transformed`` counts rows normalised by ``transform``
    rules (still kept).
    """

    rows_in: dict[str, int] = Field(default_factory=dict)
    kept: dict[str, int] = Field(default_factory=dict)
    filtered: dict[str, dict[str, int]] = Field(default_factory=dict)
    matched: dict[str, dict[str, int]] = Field(default_factory=dict)
    transformed: dict[str, dict[str, int]] = Field(default_factory=dict)
    orphans: dict[str, int] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(default_factory=list)

    def check(self) -> None:
        """Raise ``AssertionError`` if a table's rows do not add up."""
        for table, n in self.rows_in.items():
            total = self.kept.get(table, 0) + sum(self.filtered.get(table, {}).values())
            total += self.orphans.get(table, 0)
            if total != n:
                raise AssertionError(f"{table}: rows_in {n} != kept + filtered + orphans {total}")


def stg_tables(paths: LakePaths) -> list[str]:
    """Tables with at least one staged dataset (recorded in ``_state/files.json``)."""
    return [name[4:] for name in known_tables(paths) if name.startswith("stg.")]


def register_stg(con: Connection, paths: LakePaths, table: str) -> str:
    """Create a temp view ``stg_<table>`` over the staged datasets (with their ``_year``)."""
    view = f"stg_{table}"
    con.create_view(view, f"SELECT * FROM {relation(con, paths, f'stg.{table}')}")
    return view


def _columns(con: Connection, relation_sql: str) -> list[str]:
    return [name for name, _ in con.describe(f"SELECT * FROM {relation_sql}")]


def _rules_for(rules: list[QualityRule], table: str) -> list[QualityRule]:
    return [r for r in rules if r.enabled and table in r.table]


def _match_sql(rule: QualityRule, table: str) -> str:
    expr = rule.expression(table)
    return f"(COALESCE(({expr}), FALSE) AND {rule.year_condition('t._year')})"


def _flag_dcir(
    con: Connection, rules: list[QualityRule], present: set[str], order: dict[str, int]
) -> list[str]:
    """``flag_ER_PRS_F``: ER_PRS_F rows with one boolean ``_m_<i>`` per rule and ``_ord``."""
    table = "ER_PRS_F"
    selected = _rules_for(rules, table)
    joins: list[str] = []
    matches: list[str] = []
    ctes: list[str] = []
    keys_eq = " AND ".join(f"t.{k} = {{a}}._j_{k}" for k in DCIR_KEYS)
    keys = ", ".join(DCIR_KEYS)
    for i, rule in enumerate(selected):
        if rule.kind == "row":
            matches.append(_match_sql(rule, table))
        elif rule.kind == "join":
            jt = rule.params["join_table"]
            jkeys = list(rule.params["join_keys"])
            if jt not in present:
                matches.append("FALSE")
                continue
            expr = render_sql(str(rule.exclude_when), rule.params)
            alias = f"j{i}"
            ctes.append(
                f"{alias} AS (SELECT {', '.join(f'{k} AS _j_{k}' for k in jkeys)}, "
                f"bool_or(COALESCE(({expr}), FALSE)) AS m FROM stg_{jt} j GROUP BY ALL)"
            )
            on = " AND ".join(f"t.{k} = {alias}._j_{k}" for k in jkeys)
            joins.append(f"LEFT JOIN {alias} ON {on}")
            matches.append(f"(COALESCE({alias}.m, FALSE) AND {rule.year_condition('t._year')})")
        elif rule.kind == "group":
            group = [g if g != "_sat_codes" else "sc._sat_codes" for g in rule.params["group_by"]]
            group = [g if "(" in g or "." in g else f"t.{g}" for g in group]
            matches.append(f"({_netting_sql(rule, group)} AND {rule.year_condition('t._year')})")
    need_codes = any(r.kind == "group" and "_sat_codes" in r.params["group_by"] for r in selected)
    if need_codes:
        parts = [
            f"SELECT {keys}, CAST({col} AS VARCHAR) AS code FROM stg_{sat}"
            for sat, col in DCIR_SATELLITES.items()
            if col and sat in present
        ]
        union = (
            " UNION ALL ".join(parts) or f"SELECT {keys}, NULL::VARCHAR AS code FROM stg_{table}"
        )
        ctes.append(
            f"sc AS (SELECT {', '.join(f'{k} AS _j_{k}' for k in DCIR_KEYS)}, "
            f"string_agg(code, ',' ORDER BY code) AS _sat_codes "
            f"FROM ({union}) GROUP BY ALL)"
        )
        joins.append("LEFT JOIN sc ON " + keys_eq.format(a="sc"))
    _create_flag_table(con, table, selected, matches, ctes, joins, order)
    return [r.name for r in selected]


def _netting_sql(rule: QualityRule, group: list[str]) -> str:
    """Match of the netting rule (kind ``group``): within each group of identical lines,
    every negative line (a cancellation) and the positive lines it cancels: positive lines are
    consumed in ``params.order_by`` order (earliest flow first) while their running quantity
    does not exceed the group's cancelled quantity; a line of quantity 0 is excluded when the
    group nets to <= 0. A positive group with no cancellation is kept whole, and no negative
    line is ever kept."""
    qty = f"t.{rule.params['quantity']}"
    part = f"PARTITION BY {', '.join(group)}"
    order_by = [*rule.params.get("order_by", []), "_source_file", "_source_line"]
    order = ", ".join(o if "(" in o or "." in o else f"t.{o}" for o in order_by)
    window = f"{part} ORDER BY {order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    cancelled = f"-SUM(LEAST({qty}, 0)) OVER ({part})"
    consumed = f"SUM(GREATEST({qty}, 0)) OVER ({window})"
    net = f"SUM({qty}) OVER ({part})"
    return (
        f"COALESCE(CASE WHEN {qty} < 0 THEN TRUE WHEN {qty} > 0 THEN {consumed} <= {cancelled} "
        f"ELSE {net} <= 0 END, FALSE)"
    )


def _create_flag_table(
    con: Connection,
    table: str,
    selected: list[QualityRule],
    matches: list[str],
    ctes: list[str],
    joins: list[str],
    order: dict[str, int],
) -> None:
    m_cols = [f"{m} AS _m_{i}" for i, m in enumerate(matches)]
    case = " ".join(f"WHEN _m_{i} THEN {order[r.name]}" for i, r in enumerate(selected))
    ord_expr = f"CASE {case} ELSE NULL END" if case else "NULL::INTEGER"
    with_sql = ("WITH " + ", ".join(ctes) + " ") if ctes else ""
    ident = ", ".join(f"t.{c}" for c in _ident_columns(con, table))
    inner = (
        f"{with_sql}SELECT {ident}{''.join(', ' + c for c in m_cols)} FROM stg_{table} t "
        + " ".join(joins)
    )
    con.create_table(
        f"flag_{table}", f"SELECT *, CAST({ord_expr} AS INTEGER) AS _ord FROM ({inner})"
    )


#: Columns a flag table keeps besides its match flags: the row's identity and the join keys
#: of the DCIR and PMSI families (flag tables stay narrow; the clean rows are read back from
#: stg by anti-join, so no table is ever held whole in memory).
ROW_ID: tuple[str, ...] = ("_source_file", "_source_line")


def _ident_columns(con: Connection, table: str) -> list[str]:
    cols = set(_columns(con, f"stg_{table}"))
    keys = {k for f in PMSI_FAMILIES.values() for k in f.key} | set(DCIR_KEYS)
    return [*ROW_ID, "_year", *sorted(k for k in keys if k in cols)]


def _flag_rows(
    con: Connection, table: str, rules: list[QualityRule], order: dict[str, int]
) -> list[str]:
    selected = [r for r in _rules_for(rules, table) if r.kind == "row"]
    matches = [_match_sql(r, table) for r in selected]
    _create_flag_table(con, table, selected, matches, [], [], order)
    return [r.name for r in selected]


def _flag_children(
    con: Connection,
    table: str,
    parent_rel: str,
    key: tuple[str, ...],
    own_ord: str | None = None,
) -> None:
    """``flag_<table>``: rows inheriting the parent's ``_ord`` on ``key``; orphans ``-1``.

    ``parent_rel`` has one row per key with ``_pord`` (NULL = kept). ``own_ord`` is an
    expression of the child's own rule (already in ``flag_<table>``), used first.
    """
    on = " AND ".join(f"c.{k} = p.{k}" for k in key)
    src = f"flag_{table}" if own_ord else f"stg_{table}"
    own = f"c.{own_ord}" if own_ord else "NULL"
    ident = ", ".join(f"c.{k}" for k in ROW_ID)
    con.create_table(
        f"flagc_{table}",
        f"SELECT {ident}, CAST(CASE WHEN p._present IS NULL THEN -1 "
        f"ELSE COALESCE(p._pord, {own}) END AS INTEGER) AS _ord "
        f"FROM {src} c LEFT JOIN {parent_rel} p ON {on}",
    )


def _flag_dcir_family(
    con: Connection,
    rules: list[QualityRule],
    present: set[str],
    order: dict[str, int],
    flagged: dict[str, str],
    matched: dict[str, dict[str, int]],
) -> None:
    """ER_PRS_F's own flags, then its satellites inheriting the line's decision."""
    if "ER_PRS_F" not in present:
        return
    selected = _flag_dcir(con, rules, present, order)
    matched["ER_PRS_F"] = _matched(con, "flag_ER_PRS_F", selected)
    flagged["ER_PRS_F"] = "flag_ER_PRS_F"
    keys = ", ".join(DCIR_KEYS)
    con.create_table(
        "parent_dcir",
        f"SELECT {keys}, TRUE AS _present, "
        f"CASE WHEN bool_or(_ord IS NULL) THEN NULL ELSE min(_ord) END AS _pord "
        f"FROM flag_ER_PRS_F GROUP BY ALL",
    )
    for sat in DCIR_SATELLITES:
        if sat in present:
            _flag_children(con, sat, "parent_dcir", DCIR_KEYS)
            flagged[sat] = f"flagc_{sat}"


def _flag_pmsi_families(
    con: Connection,
    rules: list[QualityRule],
    present: set[str],
    order: dict[str, int],
    flagged: dict[str, str],
    matched: dict[str, dict[str, int]],
) -> None:
    """PMSI: the stay-level decision, inherited by every table of the product."""
    for family in PMSI_FAMILIES.values():
        if family.parent not in present:
            continue
        key = (*family.key, "_year")
        kcols = ", ".join(key)
        parts = []
        for t in family.deciders:
            if t in present:
                selected = _flag_rows(con, t, rules, order)
                matched[t] = _matched(con, f"flag_{t}", selected)
                parts.append(f"SELECT {kcols}, _ord FROM flag_{t}")
        stays = " UNION ALL ".join(parts)
        on = " AND ".join(f"p.{k} = d.{k}" for k in key)
        con.create_table(
            f"stay_{family.parent}",
            f"SELECT p.*, TRUE AS _present, d._pord FROM "
            f"(SELECT DISTINCT {kcols} FROM stg_{family.parent}) p LEFT JOIN "
            f"(SELECT {kcols}, min(_ord) AS _pord FROM ({stays}) s GROUP BY ALL) d ON {on}",
        )
        # the parent: every row has its stay; rows get the stay-level decision
        _flag_children(con, family.parent, f"stay_{family.parent}", key)
        flagged[family.parent] = f"flagc_{family.parent}"
        for child in family.children:
            if child in present:
                _flag_children(con, child, f"stay_{family.parent}", key)
                flagged[child] = f"flagc_{child}"


def rule_units(tables: list[str] | set[str]) -> list[set[str]]:
    """The staged tables whose flags depend on each other (one unit is flagged together): the
    DCIR prestations with their satellites, each PMSI product, then every other table alone.

    >>> sorted(map(sorted, rule_units({"ER_PRS_F", "ER_PHA_F", "IR_BEN_R"})))
    [['ER_PHA_F', 'ER_PRS_F'], ['IR_BEN_R']]
    """
    present = set(tables)
    units: list[set[str]] = []
    dcir = ({DCIR_PRESTATION_TABLE} | set(DCIR_SATELLITES)) & present
    if dcir:
        units.append(dcir)
    for family in PMSI_FAMILIES.values():
        members = ({family.parent} | set(family.deciders) | set(family.children)) & present
        if members:
            units.append(members)
    grouped = set().union(*units) if units else set()
    units += [{t} for t in sorted(present - grouped)]
    return units


def apply_rules(
    con: Connection,
    paths: LakePaths,
    writer: GenerationWriter,
    rules: list[QualityRule] | None = None,
    *,
    carry: set[str] | frozenset[str] = frozenset(),
    previous: RuleCounts | None = None,
) -> RuleCounts:
    """Apply the enabled ``rules`` to every staged table of the lake at ``paths``.

    Writes, per table, into the ``int`` generation of ``writer`` the internal datasets
    ``clean__<TABLE>`` (kept rows, stg columns with ``_year``, transforms applied) and
    ``flags__<TABLE>`` (one row per filtered row: ``_source_file``, ``_source_line``,
    ``_rule``); satellite rows without a parent go to the internal dataset
    ``orphans__<TABLE>`` with the quarantine schema (only when there are some). Returns the
    counts.

    ``carry`` (whole :func:`rule_units` only) names staged tables whose inputs have not changed
    since the previous generation: their datasets are carried over and their counts taken from
    ``previous`` (an incremental ingest re-flags only the units new staged files touch).
    """
    rules = load_rules() if rules is None else rules
    ordered = sorted(rules, key=lambda r: (r.order, r.name))
    order = {r.name: i for i, r in enumerate(ordered)}
    names = {i: r.name for i, r in enumerate(ordered)}
    counts = RuleCounts(rules=[_rule_summary(r) for r in ordered])
    every = stg_tables(paths)
    if carry:
        assert previous is not None, "carrying tables needs the previous counts"
        _carry_tables(writer, sorted(set(carry) & set(every)), previous, counts)
    tables = [t for t in every if t not in carry]
    present = set(tables)
    for t in tables:
        register_stg(con, paths, t)
    flagged: dict[str, str] = {}  # table -> temp table with _ord (-1 orphan)
    matched: dict[str, dict[str, int]] = {}
    _flag_dcir_family(con, ordered, present, order, flagged, matched)
    _flag_pmsi_families(con, ordered, present, order, flagged, matched)
    # ---- every other table: its own row rules ------------------------------------------------
    for t in tables:
        if t not in flagged:
            selected = _flag_rows(con, t, ordered, order)
            if selected:
                matched[t] = _matched(con, f"flag_{t}", selected)
            flagged[t] = f"flag_{t}"
    # ---- write and count ---------------------------------------------------------------------
    for t in tables:
        rel = flagged[t]
        _write_table(con, paths, writer, t, rel, ordered, counts)
        rows = con.fetchall(f"SELECT _ord, count(*) FROM {rel} GROUP BY ALL ORDER BY ALL")
        counts.rows_in[t] = sum(n for _, n in rows)
        counts.kept[t] = sum(n for o, n in rows if o is None)
        counts.orphans[t] = sum(n for o, n in rows if o == -1)
        counts.filtered[t] = {names[o]: n for o, n in rows if o is not None and o >= 0}
        if t in matched:
            counts.matched[t] = matched[t]
    counts.check()
    return counts


def _carry_tables(
    writer: GenerationWriter, tables: list[str], previous: RuleCounts, counts: RuleCounts
) -> None:
    """Keep the kept rows and flags of ``tables`` from the previous generation, and their
    counts."""
    for t in tables:
        for name in (f"clean__{t}", f"flags__{t}"):
            if not writer.carry(name):
                raise AssertionError(f"the previous int generation has no {name}")
        writer.carry(orphans_name(t))  # only when it had orphans
        counts.rows_in[t] = previous.rows_in.get(t, 0)
        counts.kept[t] = previous.kept.get(t, 0)
        counts.orphans[t] = previous.orphans.get(t, 0)
        counts.filtered[t] = dict(previous.filtered.get(t, {}))
        for field in ("matched", "transformed"):
            value = getattr(previous, field).get(t)
            if value is not None:
                getattr(counts, field)[t] = dict(value)


def _rule_summary(rule: QualityRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "kind": rule.kind,
        "tables": list(rule.table),
        "enabled": rule.enabled,
        "source": rule.source,
    }


def _matched(con: Connection, rel: str, selected: list[str]) -> dict[str, int]:
    if not selected:
        return {}
    sums = ", ".join(f"count(*) FILTER (WHERE _m_{i})" for i in range(len(selected)))
    row = con.fetchone(f"SELECT {sums} FROM {rel}") or ()
    return {name: int(n) for name, n in zip(selected, row, strict=True)}


def clean_name(table: str) -> str:
    """Internal dataset of the kept rows of ``table`` in the ``int`` generation."""
    return f"clean__{table}"


def orphans_name(table: str) -> str:
    """Internal dataset of the satellite rows of ``table`` without a parent row (the
    quarantine schema; ``int.orphans__ER_PHA_F`` through :func:`sndslab.lake.relation`)."""
    return f"orphans__{table}"


def flags_name(table: str) -> str:
    """Internal dataset of the filtered rows of ``table`` (with their rule)."""
    return f"flags__{table}"


def _write_table(
    con: Connection,
    paths: LakePaths,
    writer: GenerationWriter,
    table: str,
    rel: str,
    rules: list[QualityRule],
    counts: RuleCounts,
) -> None:
    on = " AND ".join(f"s.{k} = d.{k}" for k in ROW_ID)
    decided = f"(SELECT {', '.join(ROW_ID)} FROM {rel} WHERE _ord IS NOT NULL)"
    kept = f"(SELECT s.* FROM stg_{table} s ANTI JOIN {decided} d ON {on})"
    transforms = [r for r in rules if r.enabled and r.kind == "transform" and table in r.table]
    replace = ""
    if transforms:
        sets = {c: render_sql(e, r.params) for r in transforms for c, e in r.params["set"].items()}
        replace = " REPLACE (" + ", ".join(f"{e} AS {c}" for c, e in sets.items()) + ")"
        changed = {}
        for r in transforms:
            cond = r.params.get("changed_when")
            if cond:
                n = con.scalar(
                    f"SELECT count(*) FROM {kept} t WHERE "
                    f"COALESCE(({render_sql(cond, r.params)}), FALSE)"
                )
                changed[r.name] = int(n)
        counts.transformed[table] = changed
    # REPLACE must apply to the stg columns: select them first, then replace.
    query = f"SELECT *{replace} FROM {kept} t" if replace else f"SELECT * FROM {kept} t"
    writer.write(clean_name(table), query, internal=True)
    names = " ".join(f"WHEN {i} THEN '{r.name}'" for i, r in enumerate(rules))
    rule_name = f"CASE _ord {names} END" if names else "NULL::VARCHAR"
    writer.write(
        flags_name(table),
        f"SELECT _source_file, _source_line, {rule_name} AS _rule FROM {rel} WHERE _ord >= 0",
        internal=True,
    )
    if con.scalar(f"SELECT count(*) FROM {rel} WHERE _ord = -1"):
        writer.write(
            orphans_name(table),
            f"SELECT _source_file, _source_line, '{ORPHAN_REASON}' AS reason, "
            f'NULL::VARCHAR AS "column", NULL::VARCHAR AS raw_value, '
            f"'no parent row on the join keys' AS detail FROM {rel} WHERE _ord = -1",
            order_by=ROW_ID,
            internal=True,
        )
