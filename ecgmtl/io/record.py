"""Reading WFDB records into float32 physical signals (mV), whatever form the user names them in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.errors import RecordError, first_line

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
    warnings: tuple[str, ...] = ()  # what was odd but readable (e.g. a header date wfdb refuses)

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
    lines, at = _header_lines(base.name, header)
    warnings: list[str] = _check_header_fields(base.name, lines, at)
    try:
        try:
            rec = wfdb.rdrecord(str(base))
        except ValueError as e:  # a base time or date wfdb cannot parse: read the signals without them
            retry = _read_without_datetime(base, header.name, lines, at, wfdb)
            if retry is None:
                raise
            rec, dropped = retry
            warnings.append(
                f"header time/date field(s) {' '.join(dropped)!r} unreadable ({first_line(e, 160)}); read without them"
            )
    except FileNotFoundError as e:
        raise RecordError(
            f"record {base.name}: signal file missing ({e.filename or e}); copy it beside {header.name}"
        ) from None
    except ValueError as e:
        if "broadcast" in str(e) or "not loaded correctly" in str(e):  # wfdb's symptoms of a short signal file
            raise RecordError(f"record {base.name}: signal file truncated (shorter than its header says)") from None
        raise RecordError(
            f"record {base.name}: cannot read it as WFDB ({first_line(e, 160)}); check the header and signal files"
        ) from None
    except IndexError:  # wfdb's symptom of fewer signal lines than the record line announces
        raise RecordError(f"record {base.name}: the header lists fewer signals than its record line says") from None
    except IsADirectoryError as e:
        raise RecordError(f"record {base.name}: signal file {Path(e.filename or '').name} is a folder") from None
    except Exception as e:  # wfdb raises HeaderSyntaxError, ... for malformed files
        raise RecordError(
            f"record {base.name}: cannot read it as WFDB ({first_line(e, 160)}); check the header and signal files"
        ) from None
    if not (np.isfinite(rec.fs) and rec.fs > 0):
        raise RecordError(f"record {base.name}: sampling rate {rec.fs} in its header; it must be a positive number")
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
            raise RecordError(
                f"record {base.name}: annotation file {ann_file.name} is unreadable ({first_line(e, 160)})"
            ) from None
    leads = tuple(str(n) for n in (rec.sig_name or [f"ch{j}" for j in range(signal.shape[1])]))
    return Record(base.name, signal, float(rec.fs), leads, ann, tuple(warnings))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _header_lines(name: str, header: Path) -> tuple[list[str], int]:
    """The header's lines and the index of its record line (the first that is not a comment)."""
    try:
        lines = header.read_text(errors="replace").splitlines()
    except OSError as e:
        raise RecordError(f"record {name}: header {header.name} is unreadable ({e.strerror})") from None
    at = next((k for k, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if at is None:
        raise RecordError(f"record {name}: header {header.name} is empty")
    return lines, at


def _check_header_fields(name: str, lines: list[str], at: int) -> list[str]:
    """Fields wfdb would silently replace by defaults (a sampling rate or gain that is not a number becomes
    250 Hz or 200/mV), refused here; a header without a sampling rate gets WFDB's 250 Hz and a warning."""
    fields = lines[at].split()
    warnings = []
    if len(fields) < 3:
        warnings.append("the header gives no sampling rate; WFDB's default of 250 Hz is assumed")
    else:
        fs = _number(fields[2].split("/")[0].split("(")[0])
        if fs is None or not fs > 0:
            raise RecordError(f"record {name}: sampling rate {fields[2]!r} in its header is not a positive number")
    if len(fields) >= 4 and (_number(fields[3]) is None or _number(fields[3]) < 0):
        raise RecordError(f"record {name}: sample count {fields[3]!r} in its header is not a whole number >= 0")
    if "/" in fields[0]:  # a multi-segment header lists segments, not signals
        return warnings
    for parts in (ln.split() for ln in lines[at + 1 :] if ln.strip() and not ln.lstrip().startswith("#")):
        gain = parts[2].split("/")[0].split("(")[0] if len(parts) >= 3 else ""
        if gain and _number(gain) is None:
            raise RecordError(f"record {name}: gain {parts[2]!r} of signal {parts[-1]} is not a number")
    return warnings


def _read_without_datetime(base: Path, header_name: str, lines: list[str], at: int, wfdb):
    """Retry a record whose header line carries a base time/date wfdb refuses: the header is copied without
    those fields into a temporary folder beside links to the signal files. None if there were no such fields."""
    import tempfile

    fields = lines[at].split()
    if len(fields) <= 4:
        return None
    lines = [*lines[:at], " ".join(fields[:4]), *lines[at + 1 :]]
    with tempfile.TemporaryDirectory(prefix="ecgmtl-hea-") as d:
        (Path(d) / header_name).write_text("\n".join(lines) + "\n")
        for ln in lines[at + 1 :]:
            parts = ln.split()
            if parts and not ln.lstrip().startswith("#"):
                src = base.parent / parts[0]
                if src.is_file() and not (Path(d) / parts[0]).exists():
                    (Path(d) / parts[0]).symlink_to(src.resolve())
        rec = wfdb.rdrecord(str(Path(d) / base.name))
        rec.p_signal = None if rec.p_signal is None else rec.p_signal.copy()
    return rec, fields[4:]


# Names under which the modified lead II of Holter records appears in WFDB headers.
LEAD_ALIASES = {
    "MLII": ("MLII", "ML II", "II", "ML2", "ECG", "ECG1", "ECG I"),
    "II": ("II", "MLII", "ML II", "ML2", "ECG", "ECG1"),
}


def lead_index(name: str, leads: tuple[str, ...], lead: str) -> int:
    """The index in `leads` of the named lead or an alias of it; RecordError when the record has none."""
    wanted = [a.upper().replace(" ", "") for a in LEAD_ALIASES.get(lead, (lead,))]
    names = [n.upper().replace(" ", "") for n in leads]
    for alias in wanted:
        if alias in names:
            return names.index(alias)
    raise RecordError(f"record {name} has no lead {lead} (it has {', '.join(leads)}); choose one with --lead")


def select_lead(record: Record, lead: str) -> np.ndarray:
    """The named lead (or an alias of it) as a float32 vector in mV, shape (samples,).

    Raises RecordError when the record has no such lead or when the lead holds no valid sample.
    """
    j = lead_index(record.name, record.leads, lead)
    x = record.signal[:, j]
    if np.isnan(x).all():
        raise RecordError(f"record {record.name}: lead {record.leads[j]} holds no valid sample (all NaN)")
    return x


def other_index(leads: tuple[str, ...], j: int) -> int | None:
    """The record's other lead beside lead j: V1 where the record has it (MIT-BIH's usual second lead, the
    one a model trained with preprocess.other_lead learnt from), else its first other lead; None for a
    one-lead record."""
    others = [k for k in range(len(leads)) if k != j]
    return next((k for k in others if leads[k].strip().upper() == "V1"), others[0] if others else None)


def other_lead(record: Record, lead: str) -> np.ndarray | None:
    """The record's other lead beside `lead` (mV, float32, shape (samples,)), or None where it has none or
    where that lead holds no valid sample."""
    k = other_index(record.leads, lead_index(record.name, record.leads, lead))
    if k is None or np.isnan(record.signal[:, k]).all():
        return None
    return record.signal[:, k]
