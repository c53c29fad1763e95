"""A restoration model against the classical baselines, on MIT-BIH records with NSTDB noise from the
**second** half of each noise record (never seen in training).

Protocol: from each record (DS2 by default) and each of its leads, SECONDS seconds from START_S on (with
MARGIN_S more read on each side and dropped, so that no method sees an edge); NSTDB `bw`, `ma` or both
("mixed", each 3 dB lower) added to the raw lead at each input SNR of the NST protocol's list. The input SNR
is the power ratio of the definition, 10 log10(sum ref^2 / sum noise^2), against the reference: the clean
lead band-passed 0.5-40 Hz at the record's rate (the noise raw, its slow drift included). (This is not the
SNR of WFDB's `nst`, whose S is the QRS peak-to-peak squared / 8 and whose N leaves out the drift between
1-s windows; nst's 0 dB holds about 8 dB more noise for `ma`, and more for `bw`.) Figures per lead segment, then the mean: output SNR, SNR
improvement (output SNR minus the input's; the input's is the reference's power over the added noise's, so
that a record's own baseline and offset do not count as noise), PRD (mean-removed form), RMSE (mV).
Baselines on the same segments: the 0.5-40 Hz band-pass alone, and wavelet shrinkage (PyWavelets, sym8,
soft universal threshold from the finest level's noise estimate, approximation below 0.5 Hz removed) followed
by the same band-pass.
"""

from __future__ import annotations

import numpy as np

SNRS_DB = (24.0, 18.0, 12.0, 6.0, 0.0, -6.0)
NOISES = ("bw", "ma", "mixed")
METHODS = ("model", "band-pass", "wavelet")
START_S, SECONDS, MARGIN_S = 60.0, 120.0, 10.0


def wavelet_denoise(x: np.ndarray, fs: float, wavelet: str = "sym8") -> np.ndarray:
    """Wavelet shrinkage: soft thresholds at sigma * sqrt(2 ln n) on every detail level (sigma = MAD / 0.6745
    of the finest level), the approximation coarser than 0.5 Hz set to 0. The best of 8 variants on DS1
    (soft or hard; sigma of the finest level or of each; n the signal's or the level's length; see
    studies/LOG.md), so that the baseline is as strong as it can be made without the test data."""
    import pywt

    level = max(1, int(np.floor(np.log2(fs / 0.5))) - 1)
    level = min(level, pywt.dwt_max_level(len(x), pywt.Wavelet(wavelet).dec_len))
    coeffs = pywt.wavedec(x, wavelet, level=level)
    sigma = np.median(np.abs(coeffs[-1])) / 0.6745
    t = sigma * np.sqrt(2 * np.log(len(x)))
    coeffs = [np.zeros_like(coeffs[0])] + [pywt.threshold(c, t, mode="soft") for c in coeffs[1:]]
    return pywt.waverec(coeffs, wavelet)[: len(x)]


def _noise_tracks(nstdb, half: str) -> dict[str, list[np.ndarray]]:
    from ecgmtl.io.record import read_record
    from ecgmtl.signal.noise import noise_half

    out = {}
    for kind in ("bw", "ma"):
        rec = read_record(nstdb / kind, annotations=False)
        sig = noise_half(rec.signal.astype(np.float64), half)
        out[kind] = [sig[:, c] - sig[:, c].mean() for c in range(sig.shape[1])]
    return out


def noisy_copy(clean: np.ndarray, ref: np.ndarray, tracks, noise: str, snr: float, offset: int) -> np.ndarray:
    """clean (samples,) raw mV + NSTDB noise at `snr` dB: 10 log10(mean ref^2 / mean noise^2) = snr, ref the
    clean lead band-passed (the reference), the noise raw as NSTDB holds it (its slow drift included);
    "mixed": bw and ma, each 3 dB lower. `offset` picks where each noise track starts (it wraps around)."""
    s = float(np.mean(np.asarray(ref, np.float64) ** 2))
    out = clean.astype(np.float64).copy()
    for kind in ("bw", "ma") if noise == "mixed" else (noise,):
        take = np.resize(np.roll(tracks[kind], -offset), len(clean))
        target = s / 10 ** ((snr + (3.0 if noise == "mixed" else 0.0)) / 10)
        out += np.sqrt(target / float(np.mean(take**2))) * take
    return out


def evaluate_restoration(
    model, split: str = "DS2", data_dir: str | None = None, records: list[str] | None = None, gates: dict | None = None
):
    """The grid of module docstring: {"rows": [{noise, snr, method, out_snr, gain, prd, rmse, n}], ...}.
    gates: extra methods {name: engine.Gate}, the model with that gate instead of its own (for calibration;
    the model is run once per segment)."""
    from ecgmtl.data.mitdb import resolve_records
    from ecgmtl.data.paths import data_root, database_dir
    from ecgmtl.io.record import read_record
    from ecgmtl.signal.preprocess import PreprocessConfig, bandpass
    from ecgmtl.tasks.restore.engine import Gate, restore_lead
    from ecgmtl.tasks.restore.metrics import rmse, snr_db

    root = data_root(data_dir)
    db = database_dir(root, "mitdb")
    half = "first" if split == "DS1" else "second"  # test noise never comes from the training half
    tracks = _noise_tracks(database_dir(root, "nstdb"), half)
    pcfg = PreprocessConfig()
    cells: dict[tuple[str, float, str], list[tuple[float, float, float, float]]] = {}
    for i, name in enumerate(records or resolve_records(split)):
        rec = read_record(db / name)
        fs = rec.fs
        a, b = int((START_S - MARGIN_S) * fs), int((START_S + SECONDS + MARGIN_S) * fs)
        m = int(MARGIN_S * fs)
        for j in range(rec.signal.shape[1]):
            clean = np.nan_to_num(rec.signal[a:b, j].astype(np.float64))
            ref_all = bandpass(clean, fs, pcfg).astype(np.float64)
            ref = ref_all[m:-m]
            tr = {k: v[j % len(v)] for k, v in tracks.items()}
            for noise in NOISES:
                for snr in SNRS_DB:
                    noisy = noisy_copy(clean, ref_all, tr, noise, snr, offset=(7919 * (i + 1) + 104729 * j))
                    bp = bandpass(noisy, fs, pcfg)
                    cached = _Once(model)
                    outs = {
                        "model": restore_lead(cached, noisy.astype(np.float32), fs, Gate.of(model.meta)),
                        **{k: restore_lead(cached, noisy.astype(np.float32), fs, g) for k, g in (gates or {}).items()},
                        "band-pass": bp,
                        "wavelet": bandpass(wavelet_denoise(noisy, fs), fs, pcfg),
                    }
                    s_in = snr_db(ref, ref + (noisy - clean)[m:-m])  # the reference against the noise added
                    for method, y in outs.items():
                        y = np.asarray(y[m:-m], np.float64)
                        s_out = snr_db(ref, y)
                        err = ref - y
                        prd = 100 * np.sqrt(np.sum(err**2) / np.sum((ref - ref.mean()) ** 2))
                        cells.setdefault((noise, snr, method), []).append((s_out, s_out - s_in, prd, rmse(ref, y)))
    rows = []
    for (noise, snr, method), v in cells.items():
        arr = np.asarray(v)
        rows.append(
            {
                "noise": noise,
                "snr_db": snr,
                "method": method,
                "out_snr_db": float(arr[:, 0].mean()),
                "gain_db": float(arr[:, 1].mean()),
                "prd": float(arr[:, 2].mean()),
                "rmse_mv": float(arr[:, 3].mean()),
                "segments": len(arr),
            }
        )
    return {
        "model": model.meta.get("name", ""),
        "split": split,
        "noise_half": half,
        "seconds_per_segment": SECONDS,
        "rows": rows,
        "protocol": __doc__.split("\n\n", 1)[1].strip(),
    }


class _Once:
    """The model, remembering its last answer: several gates on one segment run the network once."""

    def __init__(self, model) -> None:
        self.model, self.meta, self._last = model, model.meta, None

    def run(self, x):
        if self._last is None or self._last[0].shape != x.shape or not np.array_equal(self._last[0], x):
            self._last = (x.copy(), self.model.run(x))
        return self._last[1]


def format_table(rep: dict) -> str:
    """Markdown: one row per noise and input SNR; output SNR / SNR improvement / PRD / RMSE per method."""
    by = {(r["noise"], r["snr_db"], r["method"]): r for r in rep["rows"]}
    head = "| noise | input SNR dB | " + " | ".join(f"{m}: out SNR / gain dB, PRD %, RMSE mV" for m in METHODS) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(METHODS)]
    for noise in NOISES:
        for snr in SNRS_DB:
            cells = []
            for method in METHODS:
                r = by.get((noise, snr, method))
                cells.append(
                    "-"
                    if r is None
                    else f"{r['out_snr_db']:.1f} / {r['gain_db']:+.1f}, {r['prd']:.1f}, {r['rmse_mv']:.3f}"
                )
            if any(c != "-" for c in cells):
                lines.append(f"| {noise} | {snr:g} | " + " | ".join(cells) + " |")
    n = max((r["segments"] for r in rep["rows"]), default=0)
    lines.append(
        f"\n{rep['split']} with NSTDB noise from the {rep['noise_half']} half of each noise record; {n} lead "
        f"segments of {rep['seconds_per_segment']:g} s per cell; mean over segments. PRD mean-removed."
    )
    return "\n".join(lines)
