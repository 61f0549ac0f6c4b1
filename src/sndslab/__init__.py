"""sndslab: an open-source Python platform for the French national health data system (SNDS).

The analyst's entry points (each also a command of ``sndslab``):

- :func:`open_lake`: a lake's tables and events as lazy relations, on DuckDB or Spark;
- :func:`synthesize`: a synthetic SNDS extract with its injected truth (``sndslab synth``);
- :func:`ingest_raw`: raw CNAM files → a typed, validated lake (``sndslab ingest``);
- :func:`extract_events`: the lake's ``int/`` tables → the event table (``sndslab events``).

(``sndslab.synth`` and ``sndslab.ingest`` are the packages behind the first two; a module
cannot also be a function, hence the verbs.)

>>> import sndslab
>>> sndslab.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

from sndslab._api import extract_events, ingest_raw, synthesize
from sndslab.lake import Lake, open_lake

__all__ = ["Lake", "__version__", "extract_events", "ingest_raw", "open_lake", "synthesize"]
