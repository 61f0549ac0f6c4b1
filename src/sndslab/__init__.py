"""sndslab: an open-source Python platform for the French national health data system (SNDS).

>>> import sndslab
>>> sndslab.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
