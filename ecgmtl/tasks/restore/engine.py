"""Restoring a record with a restoration model: every lead, filtered as in training (resampled to the model
rate, band-passed), cut into overlapping segments, restored, stitched (each segment's centre kept, so that
no seam sees a segment's edge), and resampled back to the record's rate. A long record goes 30 minutes at a
time with margins (io.stream), so memory stays bounded; `restore_record` writes the result as a WFDB record
(format 16, 1 microvolt resolution) as it goes, to temporary files renamed at the end."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.errors import RecordError

MARGIN = 256  # samples at the model rate dropped at each side of a segment (the U-Net's context)
GAIN = 1000.0  # ADC units per mV of the written record (1 uV steps; +-32.7 mV)


def open_restoration_model(path: str | os.PathLike | None, device: str = "auto", option: str = "--model"):
    """The restoration model at `path` (or the shipped one) in an onnxruntime session; a model of another task
    is refused in one line, which names the command's `option`."""
    from ecgmtl.deploy.models import shipped_model
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.errors import ModelError
    from ecgmtl.tasks.registry import get_task

    m = OnnxModel(Path(path) if path is not None else shipped_model(get_task("restore")), device)
    if m.meta.get("task") != "restore":
        raise ModelError(
            f"{m.path.name} is a {m.meta.get('task') or 'beats'} model, not a restoration model; give {option} a "
            "model trained with a restore config (configs/mitdb-denoise.yaml)"
        )
    return m


def restore_signal(model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """x (samples,) a lead filtered at the model rate, in mV -> the restored lead, same length."""
    window = int(model.meta["window"])
    step = window - 2 * MARGIN
    n = len(x)
    count = max(1, -(-n // step))
    padded = np.pad(x.astype(np.float32), (MARGIN, count * step - n + MARGIN), mode="reflect" if n > MARGIN else "edge")
    idx = np.arange(count)[:, None] * step + np.arange(window)[None, :]
    out = np.empty(count * step, np.float32)
    for s in range(0, count, batch):
        _, rec = model.run(padded[idx[s : s + batch]][:, None, :])
        out[s * step : (s + len(rec)) * step] = rec[:, 0, MARGIN : MARGIN + step].reshape(-1)
    return out[:n]


@dataclass(frozen=True)
class Gate:
    """How much of the model's noise estimate is taken out, sample by sample: alpha = 1 / (1 + (d * snr)^p),
    snr the local power ratio of the restored lead over the noise estimate (moving averages over `window_s`).
    p = 1 is a Wiener-like gain on the correction, `d` the model's own distortion power relative to the signal
    (what it gets wrong on a clean lead); a larger p makes it a switch at snr = 1 / d: below it (a noisy
    stretch) the whole correction, above it (a clean one) almost none. d = 0: the whole correction
    everywhere. Calibrated on DS1 validation records at export (export.calibrate_gate) and stored in the
    model's metadata."""

    d: float = 0.0
    window_s: float = 2.0
    power: float = 1.0

    @classmethod
    def of(cls, meta: dict) -> Gate:
        g = meta.get("gate") or {}
        return cls(float(g.get("d", 0.0)), float(g.get("window_s", 2.0)), float(g.get("power", 1.0)))

    @property
    def name(self) -> str:
        return (
            f"d={self.d:g}"
            + (f",p={self.power:g}" if self.power != 1.0 else "")
            + (f",w={self.window_s:g}s" if self.window_s != 2.0 else "")
        )

    def alpha(self, restored: np.ndarray, noise: np.ndarray, fs: float) -> np.ndarray:
        if self.d <= 0:
            return np.ones_like(noise)
        from ecgmtl.signal.dsp import uniform_filter1d

        w = max(int(round(self.window_s * fs)), 1)
        ps = uniform_filter1d(restored.astype(np.float64) ** 2, w)
        pn = uniform_filter1d(noise.astype(np.float64) ** 2, w)
        return 1.0 / (1.0 + (self.d * ps / np.maximum(pn, 1e-12)) ** self.power)


def restore_lead(model, x_mv: np.ndarray, fs: float, gate: Gate | None = None) -> np.ndarray:
    """A lead in mV at fs -> the restored lead in mV at fs (the same length): the lead band-passed at its own
    rate, minus the noise the model finds at the model rate (its input minus its output, weighted by the
    gate), resampled to fs. A lead the model finds clean comes back as the band-passed lead itself."""
    from ecgmtl.signal.preprocess import PreprocessConfig, bandpass, fill_nan, prepare_signal
    from ecgmtl.signal.resample import resample

    known = set(PreprocessConfig.__dataclass_fields__)
    pcfg = PreprocessConfig(**{k: v for k, v in model.meta["preprocess"].items() if k in known})
    gate = gate or Gate.of(model.meta)
    x = prepare_signal(x_mv, fs, pcfg)
    y = restore_signal(model, x)
    n = x - y
    noise = resample((gate.alpha(y, n, pcfg.fs) * n).astype(np.float64), pcfg.fs, fs)
    if len(noise) < len(x_mv):
        noise = np.pad(noise, (0, len(x_mv) - len(noise)), mode="edge")
    own = bandpass(fill_nan(np.asarray(x_mv, np.float64)), fs, pcfg)
    return (own - noise[: len(x_mv)]).astype(np.float32)


@dataclass
class Restored:
    header: Path
    signal_file: Path
    leads: tuple[str, ...]
    fs: float
    n_samples: int
    removed_rms_mv: list[float]  # per lead: RMS of (input - restored), mean-removed: the noise and baseline taken out
    input_rms_mv: list[float]


def restore_record(model, path: str | os.PathLike, out_dir: Path, step=None) -> Restored:
    """Restore every lead of the record at `path` and write out_dir/<record>.hea/.dat (format 16, the same
    leads, rate and length). Nothing is left behind on failure, and an existing record is replaced only
    once the new one is complete."""
    from ecgmtl.io.stream import CHUNK_S, open_all_leads, plan_chunks

    sources = open_all_leads(path)
    src = sources[0]
    name = src.name
    header, dat = out_dir / f"{name}.hea", out_dir / f"{name}.dat"
    base_in = Path(path)
    base_in = base_in.with_suffix("") if base_in.suffix in (".hea", ".dat") else base_in
    if header.resolve() == base_in.with_name(base_in.name + ".hea").resolve():
        raise RecordError(f"--out {out_dir} holds the input record {name}: choose another folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecordError(f"cannot create {out_dir} ({e.strerror})") from None
    n, fs = src.n_samples, src.fs
    chunks = plan_chunks(np.unique(np.r_[np.arange(0, n, max(int(60 * fs), 1)), n]), fs, CHUNK_S)  # 30-min cores
    tmp_dat, tmp_hea = dat.with_name(dat.name + ".part"), header.with_name(header.name + ".part")
    k = len(sources)
    sq_removed, sq_input, checksum, first = np.zeros(k), np.zeros(k), np.zeros(k, np.int64), None
    try:
        with open(tmp_dat, "wb") as f:
            for c in chunks:
                block = np.empty((c.core_b - c.core_a, k), np.int16)
                for j, s in enumerate(sources):
                    x = s.read(c.read_a, c.read_b)  # NaN (invalid samples) are filled by the filter's fill_nan
                    y = restore_lead(model, x, fs)[c.core_a - c.read_a : c.core_b - c.read_a]
                    core = x[c.core_a - c.read_a : c.core_b - c.read_a]
                    d = core - y
                    sq_removed[j] += float(np.nansum((d - np.nanmean(d)) ** 2)) if np.isfinite(d).any() else 0.0
                    sq_input[j] += float(np.nansum((core - np.nanmean(core)) ** 2)) if np.isfinite(core).any() else 0.0
                    block[:, j] = np.clip(np.round(y * GAIN), -32767, 32767).astype(np.int16)
                if first is None:
                    first = block[0].copy()
                checksum += block.astype(np.int64).sum(axis=0)
                f.write(block.astype("<i2").tobytes())
                if step is not None:
                    step((c.core_b - c.core_a) / fs)
        lines = [f"{name} {k} {fs:g} {n}"]
        for j, s in enumerate(sources):
            cs = int(((checksum[j] + 32768) % 65536) - 32768)
            lines.append(f"{dat.name} 16 {GAIN:g}(0)/mV 16 0 {int(first[j])} {cs} 0 {s.lead}")
        lines.append("# restored by ecgmtl denoise, model " + str(model.meta.get("name", "")))
        tmp_hea.write_text("\n".join(lines) + "\n")
        os.replace(tmp_dat, dat)
        os.replace(tmp_hea, header)
    finally:
        for t in (tmp_dat, tmp_hea):
            t.unlink(missing_ok=True)
    return Restored(
        header,
        dat,
        tuple(s.lead for s in sources),
        fs,
        n,
        [float(np.sqrt(v / max(n, 1))) for v in sq_removed],
        [float(np.sqrt(v / max(n, 1))) for v in sq_input],
    )
