"""Concept sets → SQL over ``events.events`` (written once, DuckDB dialect, run on either engine).

An entry ``VOCAB//value`` matches that code exactly, ``VOCAB//prefix*`` every code starting
with the prefix. An event matches when its ``code`` or its ``modifier`` matches (a dispensing
carries its pack, ``CIP13//…``, as modifier; a visit its NGAP letter), or, with
``descendants``, when one of the code's parents in ``events.codes.parent_codes`` does (ATC
levels, the ATC class of a CIP13 pack, the ICD-10 category and chapter, the GHM major
category). Exclusions use the same rules and win.

>>> cs = ConceptSet(codes=("ICD10//S72*",), exclude=("ICD10//S727",),
...                 categories=("diagnosis",), modifiers=("DP",))
>>> for part in match_sql(cs, "e", "c").split(" AND "):
...     print(part)
(((starts_with(e.code, 'ICD10//S72')) OR (starts_with(coalesce(e.modifier, ''), 'ICD10//S72')))
NOT ((e.code = 'ICD10//S727') OR (coalesce(e.modifier, '') = 'ICD10//S727')))
e.category IN ('diagnosis')
e.modifier IN ('DP')
"""

from __future__ import annotations

from collections.abc import Sequence

from sndslab.cohorts._spec import ConceptSet
from sndslab.engines import quote_literal

__all__ = ["entry_sql", "match_sql", "parents_sql"]


def entry_sql(entries: Sequence[str], column: str) -> str:
    """``column`` matches one of ``entries`` (``FALSE`` when there are none).

    >>> entry_sql(["ATC//A10*", "ATC//C07AB02"], "x")
    "(starts_with(x, 'ATC//A10') OR x = 'ATC//C07AB02')"
    """
    ors = [
        f"starts_with({column}, {quote_literal(e[:-1])})"
        if e.endswith("*")
        else f"{column} = {quote_literal(e)}"
        for e in entries
    ]
    return "(" + " OR ".join(ors) + ")" if ors else "FALSE"


def parents_sql(entries: Sequence[str], codes: str) -> str:
    """Codes of relation ``codes`` (``events.codes``) one of whose parents matches
    ``entries``."""
    if not entries:
        return f"SELECT code FROM {codes} WHERE FALSE"
    test = entry_sql(entries, "p")
    kept = f"list_filter(parent_codes, lambda p: {test})"
    return f"SELECT code FROM {codes} WHERE array_length({kept}) > 0"


def _side(entries: Sequence[str], alias: str, codes: str, descendants: bool) -> str:
    modifier = f"coalesce({alias}.modifier, '')"
    own = f"{entry_sql(entries, f'{alias}.code')} OR {entry_sql(entries, modifier)}"
    if descendants and entries:
        own += f" OR {alias}.code IN ({parents_sql(entries, codes)})"
    return f"({own})"


def match_sql(cs: ConceptSet, alias: str, codes: str) -> str:
    """Predicate over the events aliased ``alias`` (``codes``: the relation of
    ``events.codes``, read only with ``descendants``)."""
    include, exclude = cs.entries()
    parts = []
    if include:
        test = _side(include, alias, codes, cs.descendants)
        if exclude:
            test = f"({test} AND NOT {_side(exclude, alias, codes, cs.descendants)})"
        parts.append(test)
    elif exclude:
        parts.append(f"NOT {_side(exclude, alias, codes, cs.descendants)}")
    if cs.categories:
        parts.append(
            f"{alias}.category IN ({', '.join(quote_literal(c.value) for c in cs.categories)})"
        )
    if cs.modifiers:
        parts.append(f"{alias}.modifier IN ({', '.join(quote_literal(m) for m in cs.modifiers)})")
    return " AND ".join(parts) if parts else "TRUE"
