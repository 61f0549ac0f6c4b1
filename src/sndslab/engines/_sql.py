"""DuckDB SQL → Spark SQL: sqlglot transpilation with the dialect shims the pipeline needs.

The pipeline's SQL is written once, in DuckDB's dialect. The DuckDB connection runs it as is;
the Spark connection (:class:`sndslab.engines.SparkConnection`) runs :func:`to_spark_sql` of it.
Queries are transpiled with ``sqlglot`` (``read="duckdb"``, ``write="spark"``) after the dialect
shims of :data:`SHIMS` (sqlglot AST transforms, each tested in
``tests/ingest/test_engines_parity.py`` or, for the typing of raw text, in
``tests/ingest/test_stage_spark.py``) for what sqlglot does not translate or Spark lacks.
Positional parameters (``?``) are not part of the portable SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

__all__ = ["SHIMS", "dedup_names", "strptime_pattern", "to_spark_sql"]


# ---- dialect shims (sqlglot AST transforms applied to the DuckDB AST) ----------------------


def _interval_paren(node: exp.Expression) -> exp.Expression:
    """``INTERVAL (6) MONTH`` (DuckDB) → ``INTERVAL 6 MONTH`` (Spark reads ``INTERVAL(…)`` as a
    function call)."""
    if isinstance(node, exp.Interval) and isinstance(node.this, exp.Paren):
        node.set("this", node.this.this)
    return node


def _row_number_unordered(node: exp.Expression) -> exp.Expression:
    """``row_number() OVER ()`` → ``monotonically_increasing_id()``. Spark refuses an
    unordered row_number; the pipeline uses it only as a unique row key (``link_pmsi``'s
    ``_lk``), never as a line number (Spark staging numbers lines itself, exactly:
    ``sndslab.ingest._stage_spark``)."""
    if (
        isinstance(node, exp.Window)
        and isinstance(node.this, exp.RowNumber)
        and not node.args.get("partition_by")
        and not node.args.get("order")
    ):
        return exp.Anonymous(this="monotonically_increasing_id", expressions=[])
    return node


def _string_agg_ordered(node: exp.Expression) -> exp.Expression:
    """``string_agg(x, sep ORDER BY x)`` → ``nullif(array_join(array_sort(collect_list(x)),
    sep), '')``: sorted like DuckDB (binary order), NULLs skipped, NULL when nothing to join
    (sqlglot's LISTAGG … WITHIN GROUP needs Spark 4 and differs on empty groups)."""
    if not isinstance(node, exp.GroupConcat):
        return node
    arg = node.this
    if isinstance(arg, exp.Order):
        keys = arg.expressions
        if len(keys) != 1 or keys[0].this != arg.this or keys[0].args.get("desc"):
            raise NotImplementedError(f"string_agg ordered by another expression: {node.sql()}")
        arg = arg.this
    sep = node.args.get("separator") or exp.Literal.string(",")
    joined = exp.Anonymous(
        this="array_join",
        expressions=[
            exp.Anonymous(
                this="array_sort",
                expressions=[exp.Anonymous(this="collect_list", expressions=[arg])],
            ),
            sep,
        ],
    )
    return exp.Anonymous(this="nullif", expressions=[joined, exp.Literal.string("")])


def _any_value_ignore_nulls(node: exp.Expression) -> exp.Expression:
    """DuckDB ``any_value(x)`` skips NULLs: sqlglot writes ``ANY_VALUE(x) IGNORE NULLS``, which
    Spark cannot parse before a ``FILTER (WHERE …)`` clause; ``any_value(x, true)`` (Spark's
    ignore-nulls flag) is valid everywhere."""
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return exp.Anonymous(this="any_value", expressions=[node.this.this, exp.true()])
    return node


# DuckDB's TRY_CAST from text: integers accept a decimal part (rounded half away from zero), an
# exponent and ``_`` digit separators; doubles accept ``inf``/``nan`` words but not Java's
# ``1.5d``. Spark's TRY_CAST is stricter for integers and laxer for doubles: spell DuckDB's grammar.
_DIGITS = "[0-9]+(_[0-9]+)*"
_INT_RE = f"^[ ]*[+-]?{_DIGITS}[ ]*$"
_NUM_RE = f"^[ ]*[+-]?({_DIGITS}([.]({_DIGITS})?)?|[.]{_DIGITS})([eE][+-]?[0-9]+)?[ ]*$"
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")
_FLOAT_TYPES = ("FLOAT", "DOUBLE")


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _rlike(x: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=x.copy(), expression=exp.Literal.string(pattern))


def _try_cast_text(node: exp.Expression) -> exp.Expression:
    """``TRY_CAST(x AS BIGINT|INT|…|DOUBLE)`` with DuckDB's text grammar (see above): integers
    through ``DECIMAL(38, 19)`` and ``round`` (half up, like DuckDB), ``_`` removed, the words
    ``inf``/``infinity``/``nan`` (any case, signed) for doubles; NULL otherwise, as in DuckDB.
    Integer strings are cast directly (exact up to BIGINT's range). Hexadecimal and binary
    literals (``0x10``), which DuckDB reads as integers, are NULL here."""
    if not isinstance(node, exp.TryCast):
        return node
    to = node.args["to"]
    kind = to.this.name if hasattr(to.this, "name") else str(to.this)
    if kind not in _INTEGER_TYPES + _FLOAT_TYPES:
        return node
    x = node.this.transform(_try_cast_text)  # a replaced node's subtree is not visited again
    plain = _call("regexp_replace", x.copy(), exp.Literal.string("_"), exp.Literal.string(""))

    def try_cast(e: exp.Expression, target: exp.Expression) -> exp.Expression:
        return exp.TryCast(this=e, to=target.copy(), safe=True)

    if kind in _INTEGER_TYPES:
        rounded = exp.Round(this=try_cast(plain.copy(), exp.DataType.build("DECIMAL(38, 19)")))
        return (
            exp.Case()
            .when(_rlike(x, _INT_RE), try_cast(plain, to))
            .when(_rlike(x, _NUM_RE), try_cast(rounded, to))
        )
    word = _call("lower", exp.Trim(this=x.copy()))

    def const(text: str) -> exp.Expression:
        return exp.Cast(this=exp.Literal.string(text), to=to.copy())

    return (
        exp.Case()
        .when(_rlike(x, _NUM_RE), try_cast(plain, to))
        .when(_rlike(word, "^[+]?inf(inity)?$"), const("Infinity"))
        .when(_rlike(word, "^-inf(inity)?$"), const("-Infinity"))
        .when(_rlike(word, "^[+-]?nan$"), const("NaN"))
    )


def strptime_pattern(fmt: str) -> tuple[str, str]:
    """(regex, Spark datetime pattern) of a DuckDB ``strptime`` format: the regex enforces
    DuckDB's field widths (``%d``, ``%m``, ``%H``, ``%M``, ``%S``: 1–2 digits; ``%Y``: 1–4;
    ``%b``: 3 letters, any case — Spark parses month names case-insensitively), the pattern
    checks the calendar (31/02 is rejected).

    >>> strptime_pattern("%d%b%Y:%H:%M:%S")
    ('^[0-9]{1,2}[A-Za-z]{3}[0-9]{1,4}[:][0-9]{1,2}[:][0-9]{1,2}[:][0-9]{1,2}$', 'dMMMy:H:m:s')
    """
    fields = {
        "d": ("[0-9]{1,2}", "d"),
        "m": ("[0-9]{1,2}", "M"),
        "Y": ("[0-9]{1,4}", "y"),
        "H": ("[0-9]{1,2}", "H"),
        "M": ("[0-9]{1,2}", "m"),
        "S": ("[0-9]{1,2}", "s"),
        "b": ("[A-Za-z]{3}", "MMM"),
    }
    regex, java, i = "^", "", 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt) and fmt[i + 1] != "%":
            if fmt[i + 1] not in fields:
                raise NotImplementedError(f"strptime directive %{fmt[i + 1]} on Spark")
            r, j = fields[fmt[i + 1]]
            regex, java, i = regex + r, java + j, i + 2
            continue
        if ch == "%":  # %%
            i += 1
        regex += ch if ch.isalnum() else ("[" + ("\\" if ch in "\\^]" else "") + ch + "]")
        java += ("'" + ch.replace("'", "''") + "'") if ch.isalpha() or ch == "'" else ch
        i += 1
    return regex + "$", java


def _try_strptime(node: exp.Expression) -> exp.Expression:
    """DuckDB ``try_strptime(x, fmt | [fmt, …])`` (first format that parses) → ``coalesce`` of
    ``CASE WHEN x RLIKE width_regex THEN try_to_timestamp(x, java_pattern) END`` per format
    (see :func:`strptime_pattern`)."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime"):
        return node
    x, fmts = node.expressions
    x = x.transform(_try_strptime)
    items = fmts.expressions if isinstance(fmts, exp.Array) else [fmts]
    if not all(isinstance(f, exp.Literal) and f.is_string for f in items):
        raise NotImplementedError(f"try_strptime with non-literal formats: {node.sql()}")
    parts: list[exp.Expression] = []
    for f in items:
        regex, java = strptime_pattern(f.this)
        parsed = _call("try_to_timestamp", x.copy(), exp.Literal.string(java))
        parts.append(exp.Case().when(_rlike(x, regex), parsed))
    return parts[0] if len(parts) == 1 else exp.Coalesce(this=parts[0], expressions=parts[1:])


def _list_index(node: exp.Expression) -> exp.Expression:
    """``[a, b][i]`` (DuckDB list literal, 1-based) → ``element_at(array(a, b), i)`` (sqlglot
    keeps ``[i]``, which Spark reads 0-based, when ``i`` is not a literal)."""
    if (
        isinstance(node, exp.Bracket)
        and isinstance(node.this, exp.Array)
        and len(node.expressions) == 1
        and not isinstance(node.expressions[0], exp.Slice)
    ):
        return _call("element_at", node.this, node.expressions[0])
    return node


#: sqlglot transforms applied, in order, to every statement before it is generated for Spark.
SHIMS: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _interval_paren,
    _row_number_unordered,
    _string_agg_ordered,
    _any_value_ignore_nulls,
    _try_cast_text,
    _try_strptime,
    _list_index,
)


def to_spark_sql(sql: str, *, columns_of: Callable[[str], Sequence[str]] | None = None) -> str:
    """Transpile one DuckDB query to Spark SQL with the :data:`SHIMS`.

    ``columns_of(spark_sql)`` returns the columns of a Spark relation; it is needed to expand
    DuckDB's ``SELECT * REPLACE (…)`` (absent from Spark) into an explicit column list.
    Example: ``SELECT d + INTERVAL (6) MONTH`` becomes ``SELECT d + INTERVAL 6 MONTH``.
    """
    tree: Any = sqlglot.parse_one(sql, read="duckdb")
    for shim in SHIMS:
        tree = tree.transform(shim)
    if columns_of is not None:
        tree = _expand_star_replace(tree, columns_of)
    elif any(s.args.get("replace") for s in tree.find_all(exp.Star)):
        raise NotImplementedError("SELECT * REPLACE needs columns_of to be expanded")
    return tree.sql(dialect="spark")


def _expand_star_replace(
    tree: exp.Expression, columns_of: Callable[[str], Sequence[str]]
) -> exp.Expression:
    """``SELECT * REPLACE (e AS c) FROM r`` → ``SELECT c1, …, e AS c, … FROM r`` (shim)."""
    for star in list(tree.find_all(exp.Star)):
        replace = star.args.get("replace")
        if not replace:
            continue
        select = star.parent
        if not isinstance(select, exp.Select) or len(select.expressions) != 1:
            raise NotImplementedError(f"SELECT * REPLACE in this position: {select}")
        probe = select.copy()
        probe.set("expressions", [exp.Star()])
        probe.set("where", None)
        cols = columns_of(probe.sql(dialect="spark") + " LIMIT 0")
        by_name = {a.alias.upper(): a for a in replace}
        new = [by_name.get(c.upper()) or exp.column(c, quoted=True) for c in cols]
        select.set("expressions", new)
    return tree


def dedup_names(names: Sequence[str]) -> list[str]:
    """Column names made unique the way DuckDB does when it creates a table: a name equal
    (case-insensitively) to an earlier one gets ``_1``, ``_2``, … (shim: Spark keeps
    duplicates and then reports ambiguous references).

    >>> dedup_names(["lab", "BEN_IDT_ANO", "ben_idt_ano"])
    ['lab', 'BEN_IDT_ANO', 'ben_idt_ano_1']
    """
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        new, k = name, 0
        while new.lower() in seen:
            k += 1
            new = f"{name}_{k}"
        seen.add(new.lower())
        out.append(new)
    return out
