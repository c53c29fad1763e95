"""Reading WFDB records into float32 physical signals (mV), whatever form the user names them in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import RecordError

# Physical units wfdb may report, as a factor to millivolts.
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3, "nu": 1.0, "": 1.0}
_SUFFIXES = (".dat", ".hea", ".atr", ".mat")


@dataclass(frozen=True)
class Annotation:
    """Beat and rhythm annotations: `sample` indices at the record's rate, one `symbol` each."""

    sample: np.ndarray
    symbol: np.ndarray


@dataclass(frozen=True)
class Record:
    """A record's signals.

    signal: float32 array of shape (samples, leads), physical units converted to mV (NaN = invalid sample).
    fs: sampling rate in Hz. leads: lead names as the header gives them.
    """

    name: str
    signal: np.ndarray
    fs: float
    leads: tuple[str, ...]
    annotation: Annotation | None

    @property
    def duration_s(self) -> float:
        return self.signal.shape[0] / self.fs


def record_base(path: str | os.PathLike) -> Path:
    """The record path without extension: `x.dat`, `x.hea` and `x` all name record `x`."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in _SUFFIXES else p


def read_record(path: str | os.PathLike, annotations: bool = True, extension: str = "atr") -> Record:
    """Read a WFDB record given as `x.dat`, `x.hea` or `x`.

    Raises RecordError with a message that says what is wrong and what to do; never a wfdb traceback.
    """
    import wfdb  # imported here: costs 0.4 s, not needed to import the package

    base = record_base(path)
    header = base.with_name(base.name + ".hea")
    if not header.is_file():
        if Path(path).is_dir():
            raise RecordError(f"{path} is a folder, not a record: name one record (e.g. {Path(path) / '100.dat'})")
        raise RecordError(f"no WFDB header {header}: a record needs its .hea file beside the signal file")
    try:
        rec = wfdb.rdrecord(str(base))
    except FileNotFoundError as e:
        raise RecordError(f"record {base.name}: signal file missing ({e.filename or e}); copy it beside {header.name}")
    except ValueError as e:
        if "broadcast" in str(e):  # wfdb's symptom of a signal file shorter than its header says
            raise RecordError(f"record {base.name}: signal file truncated (shorter than its header says)") from None
        raise RecordError(f"record {base.name}: cannot read it as WFDB ({_short(e)}); check the header and signal files")
    except Exception as e:  # wfdb raises IndexError, HeaderSyntaxError, ... for malformed files
        raise RecordError(f"record {base.name}: cannot read it as WFDB ({_short(e)}); check the header and signal files")
    if rec.p_signal is None or rec.p_signal.size == 0:
        raise RecordError(f"record {base.name}: no samples; the signal file is empty or the header lists no signal")
    if rec.sig_len and rec.p_signal.shape[0] < rec.sig_len:
        raise RecordError(
            f"record {base.name}: signal file truncated ({rec.p_signal.shape[0]} of {rec.sig_len} samples)"
        )
    signal = rec.p_signal.astype(np.float32)
    for j, unit in enumerate(rec.units or []):
        signal[:, j] *= _TO_MV.get((unit or "").strip().lower(), 1.0)
    if np.isnan(signal).all():
        raise RecordError(f"record {base.name}: every sample of every lead is invalid (NaN)")
    ann = None
    ann_file = base.with_name(f"{base.name}.{extension}")
    if annotations and ann_file.is_file():
        try:
            a = wfdb.rdann(str(base), extension)
            ann = Annotation(np.asarray(a.sample, dtype=np.int64), np.asarray(a.symbol))
        except Exception as e:
            raise RecordError(f"record {base.name}: annotation file {ann_file.name} is unreadable ({_short(e)})")
    leads = tuple(str(n) for n in (rec.sig_name or [f"ch{j}" for j in range(signal.shape[1])]))
    return Record(base.name, signal, float(rec.fs), leads, ann)


# Names under which the modified lead II of Holter records appears in WFDB headers.
LEAD_ALIASES = {
    "MLII": ("MLII", "ML II", "II", "ML2", "ECG", "ECG1", "ECG I"),
    "II": ("II", "MLII", "ML II", "ML2", "ECG", "ECG1"),
}


def select_lead(record: Record, lead: str) -> np.ndarray:
    """The named lead (or an alias of it) as a float32 vector in mV, shape (samples,).

    Raises RecordError when the record has no such lead or when the lead holds no valid sample.
    """
    wanted = [a.upper().replace(" ", "") for a in LEAD_ALIASES.get(lead, (lead,))]
    names = [n.upper().replace(" ", "") for n in record.leads]
    for alias in wanted:
        if alias in names:
            j = names.index(alias)
            break
    else:
        raise RecordError(
            f"record {record.name} has no lead {lead} (it has {', '.join(record.leads)}); choose one with --lead"
        )
    x = record.signal[:, j]
    if np.isnan(x).all():
        raise RecordError(f"record {record.name}: lead {record.leads[j]} holds no valid sample (all NaN)")
    return x


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:160]
