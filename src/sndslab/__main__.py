"""``python -m sndslab`` runs the command line (so does the ``sndslab`` script, through
:func:`run`).

The command line installs its own Ctrl-C handling once loaded (:mod:`sndslab.cli`); a Ctrl-C
pressed while it is still loading is answered here the same way: ``interrupted``, exit 130.
"""

from __future__ import annotations

import sys

__all__ = ["run"]


def run() -> int:
    """Load and run the command line; ``interrupted`` (exit 130) if Ctrl-C comes first."""
    try:
        from sndslab._faults import failpoint

        failpoint("cli.load")
        from sndslab.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
