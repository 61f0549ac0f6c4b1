"""Our penalised conditional Poisson ConvSCCS and tick's ``ConvSCCS`` on identical inputs
(tick's input contract built by :func:`tick_inputs`): the lag curves agree when both
penalties are weak, and both recover the simulated lag effect."""

from __future__ import annotations

import numpy as np

from sndslab.signals import convolution_design, fit_convsccs, tick_inputs


def _simulated(
    seed: int = 0, censored: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """400 cases × 40 buckets (25 to 40 when ``censored``), 2 drugs, 3 lags; drug 0 triples
    the incidence at lags 0–1."""
    rng = np.random.default_rng(seed)
    n_cases, T, lags = 400, 40, 3
    n_buckets = rng.integers(25, T + 1, n_cases) if censored else np.full(n_cases, T)
    onsets = []
    for i in range(n_cases):
        for j in range(2):
            for b in np.flatnonzero(rng.random(n_buckets[i]) < 0.08):
                onsets.append((i, j, b))
    on = np.array(onsets, np.int64)
    true = np.log(np.array([[3.0, 3.0, 1.0], [1.0, 1.0, 1.0]]))
    design = convolution_design(on, n_buckets, np.zeros(n_buckets.sum()), ["A", "B"], lags, 7)
    eta = design.X @ true.ravel()
    y = np.zeros(len(eta))
    offsets = np.concatenate([[0], np.cumsum(n_buckets)])
    for i in range(n_cases):  # one to three events per case, multinomial on its buckets
        w = np.exp(eta[offsets[i] : offsets[i + 1]])
        y[offsets[i] : offsets[i + 1]] = rng.multinomial(rng.integers(1, 4), w / w.sum())
    return on, n_buckets, y, true


def test_ours_and_tick_agree_on_the_same_inputs() -> None:
    from tick.survival import ConvSCCS

    on, n_buckets, y, _ = _simulated()
    design = convolution_design(on, n_buckets, y, ["A", "B"], 3, 7)
    ours = fit_convsccs(design, smoothness=1e-4, ridge=1e-4)
    features, labels, censoring = tick_inputs(design)
    assert len(features) == len(n_buckets) and features[0].shape == (n_buckets.max(), 2)
    tick = ConvSCCS(
        n_lags=np.array([2, 2], dtype="uint64"),
        penalized_features=np.arange(2),
        C_tv=1e6,
        C_group_l1=1e6,
        max_iter=500,
        tol=1e-8,
        random_state=0,
    )
    tick.fit(features, labels, censoring)
    ri_tick = np.exp(np.concatenate([np.asarray(c) for c in tick.coeffs]))
    ri_ours = np.exp(ours.coef)
    assert np.mean(np.abs(ri_tick - ri_ours)) < 0.01
    assert abs(ri_ours[0] - 3.0) < 0.6 and abs(ri_ours[1] - 3.0) < 0.6
    assert np.all(np.abs(ri_ours[3:] - 1.0) < 0.4)


def test_ours_recovers_the_effect_of_censored_cases() -> None:
    """Cases observed for different lengths: the intervals after a case's end are not in our
    likelihood (tick counts them as unexposed time, which inflates its estimates)."""
    on, n_buckets, y, true = _simulated(censored=True)
    design = convolution_design(on, n_buckets, y, ["A", "B"], 3, 7)
    fit = fit_convsccs(design, smoothness=1e-4, ridge=1e-4)
    z = (fit.coef - true.ravel()) / fit.se
    assert np.all(np.abs(z) < 3.5)
