"""Engine factories behind one interface: DuckDB (embedded, default) and Spark (extra ``[spark]``).

An engine is a small object with a ``name`` and a way to open a session. Pipeline stages ask
:func:`get_engine` for one by name and never import ``duckdb``/``pyspark`` configuration code
themselves, so a new engine is added here only.

>>> eng = get_engine("duckdb", memory_limit="1GB", threads=1)
>>> eng.name
'duckdb'
>>> con = eng.connect()
>>> con.execute("SELECT current_setting('threads')").fetchone()[0]
1
>>> con.close()
"""

from __future__ import annotations

from sndslab.engines._base import ENGINE_NAMES, Engine, get_engine
from sndslab.engines._duckdb import DuckDBEngine
from sndslab.engines._spark import SparkEngine, spark_available
from sndslab.engines._spark_cluster import StandaloneCluster

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "DuckDBEngine",
    "ENGINE_NAMES",
    "Engine",
    "SparkEngine",
    "StandaloneCluster",
    "get_engine",
    "spark_available",
]
