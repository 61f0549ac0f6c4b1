"""Serving the dashboard: one released folder, on 127.0.0.1 unless asked otherwise."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from werkzeug.serving import make_server

from sndslab.dashboard._app import create_app
from sndslab.dashboard._folder import load_released

__all__ = ["LOOPBACK", "host_warning", "is_loopback", "serve"]

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_warning(host: str) -> str | None:
    """The warning printed when ``host`` is not a loopback address (None when it is).

    >>> host_warning("127.0.0.1") is None, host_warning("0.0.0.0").startswith("warning:")
    (True, True)
    """
    if is_loopback(host):
        return None
    return (
        f"warning: serving on {host}, reachable from other machines; the dashboard has no "
        "user accounts: put it behind a reverse proxy with your single sign-on or use "
        "--token (see docs/dashboard.md)"
    )


def serve(
    folder: str | Path,
    *,
    host: str = LOOPBACK,
    port: int = 8050,
    token: str | None = None,
) -> None:
    """Serve the released ``folder`` until interrupted (Ctrl-C).

    The folder is loaded and checked first (no audit.json: a :class:`DashboardError` saying
    how to build one). Any ``host`` other than a loopback address prints a warning: the
    aggregates become reachable from the network, put the server behind an authenticating
    reverse proxy (docs/dashboard.md) or give a ``token``.
    """
    released = load_released(folder)
    app = create_app(released, token=token)
    warning = host_warning(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    server = make_server(host, port, app.server, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    suffix = f"/?token={token}" if token else "/"
    print(
        f"dashboard of {released.path} (release {released.release_id}) on "
        f"http://{shown}:{server.server_port}{suffix}  (Ctrl-C to stop)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
