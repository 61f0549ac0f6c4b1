"""An interactive dashboard over a RELEASED folder (``sndslab release LAKE --out DIR``).

It reads the folder's released aggregates only (never a lake) and refuses a folder without
its release audit (``audit.json``). See docs/dashboard.md; ``sndslab dashboard DIR`` runs it.

>>> from sndslab.dashboard import Selection, to_query
>>> to_query(Selection(indicator="mortality", period="2021", view="series"))
'lang=fr&indicator=mortality&level=departement&period=2021&sex=all&territory=ALL&measure=rate&view=series'
"""

from __future__ import annotations

from sndslab.dashboard._app import TOKEN_COOKIE, create_app
from sndslab.dashboard._folder import DashboardError, ReleasedFolder, load_released
from sndslab.dashboard._serve import LOOPBACK, host_warning, is_loopback, serve
from sndslab.dashboard._views import Selection, parse_query, shown_rows, to_query

__all__ = [  # noqa: RUF022
    "DashboardError",
    "LOOPBACK",
    "ReleasedFolder",
    "Selection",
    "TOKEN_COOKIE",
    "create_app",
    "host_warning",
    "is_loopback",
    "load_released",
    "parse_query",
    "serve",
    "shown_rows",
    "to_query",
]
