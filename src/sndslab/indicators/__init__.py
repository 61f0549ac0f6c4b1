"""Territorial indicators. :mod:`sndslab.indicators.stats` holds the statistics (rates,
standardisation, funnel plots, interrupted time series)."""

from __future__ import annotations

__all__: list[str] = []
