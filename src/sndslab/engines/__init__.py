"""Engines behind one seam: DuckDB (embedded, default) and Spark (extra ``[spark]``).

A stage asks :func:`get_engine` for an engine by name, opens a :class:`Connection` and runs
its SQL (DuckDB dialect, transpiled for Spark by :func:`to_spark_sql`) through explicit
operations; it never imports ``duckdb`` or ``pyspark`` configuration code itself.

>>> con = get_engine("duckdb", memory_limit="1GB", threads=1).connect()
>>> con.scalar("SELECT current_setting('threads')")
1
>>> con.sql("SELECT 1 AS one").to_arrow().column_names
['one']
>>> con.close()
"""

from __future__ import annotations

from sndslab.engines._base import (
    ENGINE_NAMES,
    Connection,
    Engine,
    Relation,
    Storage,
    get_engine,
    quote_ident,
    quote_literal,
    quote_path,
)
from sndslab.engines._duckdb import DuckDBConnection, DuckDBEngine, DuckDBRelation
from sndslab.engines._spark import (
    SparkConnection,
    SparkEngine,
    SparkRelation,
    hadoop_path,
    java_available,
    spark_available,
)
from sndslab.engines._spark_cluster import StandaloneCluster
from sndslab.engines._sql import to_spark_sql
from sndslab.engines._storage import HadoopStorage, LocalStorage, is_local_path, is_uri

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "Connection",
    "DuckDBConnection",
    "DuckDBEngine",
    "DuckDBRelation",
    "ENGINE_NAMES",
    "Engine",
    "HadoopStorage",
    "LocalStorage",
    "Relation",
    "SparkConnection",
    "SparkEngine",
    "SparkRelation",
    "StandaloneCluster",
    "Storage",
    "get_engine",
    "hadoop_path",
    "is_local_path",
    "is_uri",
    "java_available",
    "quote_ident",
    "quote_literal",
    "quote_path",
    "spark_available",
    "to_spark_sql",
]
