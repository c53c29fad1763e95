"""Temperature scaling (Guo et al. 2017): one scalar T fitted on the validation records by minimising the
negative log-likelihood of softmax(logits / T); it changes confidence, never the predicted class. The expected
calibration error (ECE, 15 equal-width bins of the top probability) is measured before and after."""

from __future__ import annotations

import numpy as np


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    return float(-_log_softmax(logits / temperature)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """argmin over T in [0.05, 20] of the NLL (bounded search on log T)."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, np.float64)
    res = minimize_scalar(
        lambda s: nll(logits, labels, float(np.exp(s))),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(res.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """sum over bins of |accuracy - mean confidence| weighted by the bin's share of beats (top-label ECE)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def calibrate(logits: np.ndarray, labels: np.ndarray) -> dict:
    """T and the validation NLL and ECE before (T = 1) and after."""
    t = fit_temperature(logits, labels)
    p0, p1 = (np.exp(_log_softmax(np.asarray(logits, np.float64) / s)) for s in (1.0, t))
    return {
        "temperature": t,
        "beats": int(len(labels)),
        "nll_before": nll(logits, labels),
        "nll_after": nll(logits, labels, t),
        "ece_before": expected_calibration_error(p0, labels),
        "ece_after": expected_calibration_error(p1, labels),
    }
