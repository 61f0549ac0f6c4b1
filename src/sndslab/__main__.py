"""``python -m sndslab`` runs the command line."""

import sys

from sndslab.cli import main

sys.exit(main())
