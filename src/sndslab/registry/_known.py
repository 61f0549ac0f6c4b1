"""Names of every table of the public SNDS documentation, registry or not.

A raw file named after an SNDS table that sndslab's registry does not describe (an SSR
outpatient table, an EGB ``EB_*`` or DCIRS ``NS_*`` table, ...) must be refused *by name*, never
filed into a registry table whose header looks similar.

>>> snds_table_of("T_SSR19CSTC"), snds_table_of("EB_PRS_F_2019"), snds_table_of("mystery")
('T_SSRaaCSTC', 'EB_PRS_F', None)
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

__all__ = ["snds_table_names", "snds_table_of"]


@lru_cache(maxsize=1)
def snds_table_names() -> tuple[str, ...]:
    """The table names of schema-snds (``snds_table_names.txt``), with their year markers."""
    text = resources.files("sndslab.registry").joinpath("snds_table_names.txt").read_text("utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _pattern(name: str) -> str:
    out = re.escape(name)
    # the markers match digits or themselves (the Health Data Hub's sample files keep "aa")
    out = out.replace("AAAA", r"(?:\d{4}|AAAA)").replace("aa", r"(?:\d{2}|aa)")
    out = out.replace("xx", r"\w{2}")
    return out


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    # longest names first, so T_MCOaaFBSTC wins over T_MCOaaFB
    names = sorted(snds_table_names(), key=len, reverse=True)
    return [
        (re.compile(rf"^{_pattern(n)}(?:_(?:\d{{4}}|\d{{2}}))?(?:_\w+)?$", re.IGNORECASE), n)
        for n in names
    ]


def snds_table_of(stem: str) -> str | None:
    """The SNDS table a file stem names (``T_SSR19CSTC`` → ``T_SSRaaCSTC``), or ``None``."""
    for pattern, name in _patterns():
        if pattern.match(stem):
            return name
    return None
