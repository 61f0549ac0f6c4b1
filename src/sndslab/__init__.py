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

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sndslab._api import extract_events, ingest_raw, synthesize
    from sndslab.lake import Lake, open_lake

__all__ = ["Lake", "__version__", "extract_events", "ingest_raw", "open_lake", "synthesize"]

#: Where each entry point lives. They are imported on first use (PEP 562), so that importing
#: ``sndslab`` itself is instant: the command line then answers a Ctrl-C pressed while it is
#: still loading with ``interrupted`` instead of a traceback (``sndslab.__main__``).
_LAZY = {
    "Lake": "sndslab.lake",
    "open_lake": "sndslab.lake",
    "extract_events": "sndslab._api",
    "ingest_raw": "sndslab._api",
    "synthesize": "sndslab._api",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sndslab' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
