"""The twelve leads: their names, which records have them, the limb-lead identities, and two simple ways to
rebuild a lead from the others (the baselines the model's hidden-lead reconstruction is measured against)."""

from __future__ import annotations

import os

import numpy as np

from ecgmtl.data.ptbxl import LEADS

MIN_STANDARD_LEADS = 6  # a record with at least this many of the 12 standard leads goes to the 12-lead model


def lead_key(name: str) -> str:
    """'aVR', 'AVR', 'avr' -> 'AVR'; 'MLII' stays itself."""
    return name.strip().upper()


def has_twelve_leads(path: str | os.PathLike) -> bool:
    """Whether the record's header names at least MIN_STANDARD_LEADS of the 12 standard leads (read from the
    header alone; an unreadable header is left to the reader, which says what is wrong)."""
    from ecgmtl.io.record import record_base

    base = record_base(path)
    header = base.with_name(base.name + ".hea")
    try:
        lines = [
            ln.split()
            for ln in header.read_text(errors="replace").splitlines()
            if ln.strip() and not ln.startswith("#")
        ]
        n = int(lines[0][1])
        names = {lead_key(" ".join(ln[8:])) for ln in lines[1 : 1 + n] if len(ln) > 8}
    except (OSError, IndexError, ValueError):
        return False
    return len(names & set(LEADS)) >= MIN_STANDARD_LEADS


# The six limb leads are linear in two of them (Einthoven: III = II - I; Goldberger: aVR = -(I + II)/2, ...):
# coefficients on (I, II).
LIMB = {
    "I": (1.0, 0.0),
    "II": (0.0, 1.0),
    "III": (-1.0, 1.0),
    "AVR": (-0.5, -0.5),
    "AVL": (1.0, -0.5),
    "AVF": (-0.5, 1.0),
}


def derive_limb_leads(signal: np.ndarray, leads: list[str], hidden: list[str]) -> list[str]:
    """Fill hidden limb leads in place from the visible ones by the limb-lead identities, where the visible
    limb leads span (I, II) (any two of them do, except none); returns the leads so derived. Exact up to the
    recording's rounding: no model needed."""
    visible = [k for k in LIMB if k in leads and k not in hidden]
    want = [k for k in hidden if k in LIMB]
    if not want or not visible:
        return []
    a = np.array([LIMB[k] for k in visible])
    if np.linalg.matrix_rank(a) < 2:
        return []
    basis = np.linalg.lstsq(a, signal[[leads.index(k) for k in visible]], rcond=None)[0]  # (2, samples): I, II
    for k in want:
        signal[leads.index(k)] = np.asarray(LIMB[k]) @ basis
    return want


class LeadBaselines:
    """Two simple ways to rebuild lead j from the other leads, fitted on training signals (records, leads, samples):
    - linear: least-squares regression of lead j on the other leads (with an intercept), sample by sample;
    - scaled_mean: the mean of the other leads after per-lead standardisation, times a least-squares scale,
      plus lead j's mean."""

    def __init__(self, train: np.ndarray) -> None:
        x = train.transpose(1, 0, 2).reshape(train.shape[1], -1).astype(np.float64)  # (leads, samples)
        self.leads = x.shape[0]
        self.mu, self.sd = x.mean(axis=1), x.std(axis=1) + 1e-9
        z = (x - self.mu[:, None]) / self.sd[:, None]
        self.coef, self.scale = [], []
        for j in range(self.leads):
            others = [k for k in range(self.leads) if k != j]
            a = np.vstack([x[others], np.ones(x.shape[1])]).T
            self.coef.append(np.linalg.lstsq(a, x[j], rcond=None)[0])
            m = z[others].mean(axis=0)
            self.scale.append(float(m @ (x[j] - self.mu[j]) / max(m @ m, 1e-12)))

    def predict(self, signals: np.ndarray, j: int, kind: str) -> np.ndarray:
        """Lead j of signals (..., leads, samples) from the other leads."""
        others = [k for k in range(self.leads) if k != j]
        if kind == "linear":
            c = self.coef[j]
            return np.tensordot(c[:-1], signals[..., others, :], axes=([0], [-2])) + c[-1]
        z = (signals[..., others, :] - self.mu[others, None]) / self.sd[others, None]
        return self.mu[j] + self.scale[j] * z.mean(axis=-2)


def lead_correlation(z: np.ndarray) -> np.ndarray:
    """The leads' covariance (leads, leads) of standardised training signals z (records, leads, samples): with
    the per-lead standardisation, their correlation matrix. Stored in the model (meta "lead_corr")."""
    flat = z.transpose(1, 0, 2).reshape(z.shape[1], -1).astype(np.float64)
    return flat @ flat.T / flat.shape[1]


def conditional_fill(z: np.ndarray, hidden: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Hidden leads of standardised signals z (..., leads, samples) replaced by their conditional mean given
    the visible ones under a zero-mean Gaussian with covariance corr: E[z_h | z_v] = S_hv S_vv^-1 z_v, sample by
    sample (linear regression from whatever leads are visible). hidden: (..., leads) bool. Visible leads are
    returned unchanged (S restricted to them is solved exactly)."""
    z = np.asarray(z, np.float64)
    m = (~np.asarray(hidden, bool)).astype(np.float64)  # 1 on visible leads
    c = np.asarray(corr, np.float64)
    eye = np.eye(c.shape[0])
    a = m[..., :, None] * c * m[..., None, :] + eye * (1.0 - m[..., :, None])  # S_vv, identity on hidden
    w = np.linalg.solve(a, m[..., :, None] * z)  # weights on the visible leads (0 on hidden)
    return np.where(m[..., :, None] > 0, z, c @ w)


def conditional_fill_torch(z, hidden, corr):
    """conditional_fill in torch, for lead-masking training: z (batch, leads, samples), hidden (batch, leads)."""
    import torch

    m = (~hidden).to(z.dtype)
    c = corr.to(z.device, z.dtype)
    eye = torch.eye(c.shape[0], device=z.device, dtype=z.dtype)
    a = m[:, :, None] * c * m[:, None, :] + eye * (1.0 - m[:, :, None])
    w = torch.linalg.solve(a, m[:, :, None] * z)
    return torch.where(m[:, :, None] > 0, z, c @ w)


def fill_hidden(signal: np.ndarray, leads: list[str], hidden: list[str], meta: dict) -> None:
    """Give hidden leads of signal (..., leads, samples, mV) the value the model was trained to see there, in
    place: their regression on the visible leads (a model trained with data.mask_fill regression), or their
    training mean."""
    if not hidden:
        return
    idx = [leads.index(k) for k in hidden]
    mean = np.asarray(meta["lead_mean"], np.float64)[:, None]
    if meta.get("mask_fill") != "regression" or not meta.get("lead_corr"):
        signal[..., idx, :] = mean[idx]
        return
    std = np.asarray(meta["lead_std"], np.float64)[:, None]
    mask = np.zeros(signal.shape[:-1], bool)
    mask[..., idx] = True
    z = conditional_fill((signal - mean) / std, mask, np.asarray(meta["lead_corr"]))
    signal[..., idx, :] = (z * std + mean)[..., idx, :]
