"""Conformance checks every analysis class must pass (scikit-learn's ``check_estimator``).

>>> from sndslab.analysis import EventCounts
>>> [name for name, _ in analysis_checks(EventCounts(codes=["ATC//A10"]))][:3]
['check_init_stores_params', 'check_get_set_params', 'check_not_fitted_before_fit']

In tests: ``@pytest.mark.parametrize("check", analysis_checks(instance), ids=…)`` then
``check(lake)`` for a lake opened on each engine; :func:`check_same_on_engines` compares the
summaries of a DuckDB and a Spark fit.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from sndslab.analysis._base import IDENTIFIER_COLUMNS, Analysis, NotFittedError, clone

__all__ = ["analysis_checks", "check_same_on_engines"]

Check = Callable[[Any], None]


def _fitted_names(a: Analysis) -> set[str]:
    return {k for k in vars(a) if k.endswith("_") and not k.startswith("_")}


def check_init_stores_params(a: Analysis, lake: Any) -> None:
    """Constructor parameters are stored unchanged, nothing else happens in ``__init__``."""
    sig = inspect.signature(type(a).__init__)
    for name in a.get_params():
        assert name in sig.parameters, f"get_params names {name}, not a constructor parameter"
    fresh = clone(a)
    assert fresh.get_params() == a.get_params()
    assert not _fitted_names(fresh), "the constructor set fitted attributes"


def check_get_set_params(a: Analysis, lake: Any) -> None:
    b = clone(a)
    params = b.get_params()
    assert b.set_params(**params) is b and b.get_params() == params
    try:
        b.set_params(__no_such_param__=1)
    except Exception as exc:
        assert "no parameter" in str(exc)
    else:  # pragma: no cover - the check's own failure
        raise AssertionError("set_params accepted an unknown parameter")


def check_not_fitted_before_fit(a: Analysis, lake: Any) -> None:
    b = clone(a)
    for method in (b.summary, b.to_release):
        try:
            method()
        except NotFittedError:
            continue
        raise AssertionError(f"{method.__name__} worked before fit")


def check_fit_returns_self(a: Analysis, lake: Any) -> None:
    b = clone(a)
    assert b.fit(lake) is b
    assert _fitted_names(b), "fit set no attribute ending with '_'"
    assert b.get_params() == a.get_params(), "fit changed the parameters"


def check_summary_is_tidy(a: Analysis, lake: Any) -> None:
    table = clone(a).fit(lake).summary()
    assert isinstance(table, pa.Table), "summary() must return an Arrow table"
    assert len(set(table.column_names)) == table.num_columns
    assert not set(table.column_names) & IDENTIFIER_COLUMNS, "identifiers in a summary"


def check_release_counts_persons(a: Analysis, lake: Any) -> None:
    cand = clone(a).fit(lake).to_release()
    counts = cand.table.column(cand.count_column)
    assert pa.types.is_integer(counts.type), "the count column must be an integer count"
    assert all(v is None or v >= 0 for v in counts.to_pylist())


def check_fit_is_deterministic(a: Analysis, lake: Any) -> None:
    one, two = clone(a).fit(lake).summary(), clone(a).fit(lake).summary()
    assert one.equals(two), "two fits of the same lake differ"


CHECKS: tuple[Callable[[Analysis, Any], None], ...] = (
    check_init_stores_params,
    check_get_set_params,
    check_not_fitted_before_fit,
    check_fit_returns_self,
    check_summary_is_tidy,
    check_release_counts_persons,
    check_fit_is_deterministic,
)


def analysis_checks(a: Analysis) -> Iterator[tuple[str, Check]]:
    """``(name, check(lake))`` for every conformance check of ``a``."""
    for check in CHECKS:
        yield check.__name__, _bound(check, a)


def _bound(check: Callable[[Analysis, Any], None], a: Analysis) -> Check:
    def run(lake: Any) -> None:
        check(a, lake)

    run.__name__ = check.__name__
    return run


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in table.column_names])


def check_same_on_engines(a: Analysis, duckdb_lake: Any, spark_lake: Any) -> None:
    """The same summary (rows in any order, same types) on DuckDB and Spark."""
    left = _sorted(clone(a).fit(duckdb_lake).summary())
    right = _sorted(clone(a).fit(spark_lake).summary())
    assert left.column_names == right.column_names
    assert left.to_pylist() == right.to_pylist(), "the engines disagree"
