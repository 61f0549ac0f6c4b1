"""Named fault-injection points (failpoints) for the crash and interrupt tests.

Production code calls :func:`failpoint` at the places where a crash or an interrupt matters
(between the steps of a publication, between phases of a command). It does nothing unless the
environment variable ``SNDSLAB_FAILPOINT`` names that point; the tests set it in a subprocess to
deliver a real signal to the process at that exact place, instead of hoping a timer lands there.

``SNDSLAB_FAILPOINT`` is a comma-separated list of ``name[@N][:ACTION]``: the ``N``-th time
(default: first) the process reaches point ``name``, it sends itself the signal ``ACTION``
(``INT`` by default, ``KILL``, ``TERM``), or raises the disk-full error ``OSError(ENOSPC)``
when ``ACTION`` is ``ENOSPC``. The technique is that of FreeBSD's fail(9) and the ``fail``
crate's failpoints.

>>> failpoint("nowhere")  # no SNDSLAB_FAILPOINT: nothing happens
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections import Counter

__all__ = ["ENV", "failpoint"]

ENV = "SNDSLAB_FAILPOINT"
_hits: Counter[str] = Counter()


def _parse(spec: str) -> dict[str, tuple[int, str]]:
    """``"a@2:KILL,b"`` → ``{"a": (2, "KILL"), "b": (1, "INT")}``.

    >>> _parse("ingest.commit@2:KILL, events.start")
    {'ingest.commit': (2, 'KILL'), 'events.start': (1, 'INT')}
    """
    out: dict[str, tuple[int, str]] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        point, _, sig = item.partition(":")
        name, _, nth = point.partition("@")
        out[name] = (int(nth) if nth else 1, (sig or "INT").upper())
    return out


def failpoint(name: str) -> None:
    """Deliver the configured signal to this process when ``name`` is armed (see module doc)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    armed = _parse(spec).get(name)
    if armed is None:
        return
    _hits[name] += 1
    nth, sig = armed
    if _hits[name] != nth:
        return
    if sig == "ENOSPC":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"(failpoint {name})")
    os.kill(os.getpid(), getattr(signal, f"SIG{sig}"))
    # a handled signal (SIGINT → KeyboardInterrupt) is raised at the next bytecode boundary;
    # give an unhandled one (SIGKILL) the time to arrive before the code goes on
    time.sleep(2)
