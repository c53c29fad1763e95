"""The leads of a record, read a chunk at a time, so that a 24- or 48-hour recording is processed in bounded
memory: the header is read first, then `read(a, b)` reads samples a..b of the lead from the signal file.

A record no longer than `WHOLE_S` is read whole through `read_record` (every check it makes, and the
results of a short record exactly as before); so is a multi-segment record, or one whose header wfdb cannot
parse without help. Chunk planning is here too: cores of whole quality segments, read with a margin on each
side so that filters and the beat detector see context across the seams.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecgmtl.errors import RecordError, first_line
from ecgmtl.io.record import (
    _TO_MV,
    _check_header_fields,
    _header_lines,
    _number,
    lead_index,
    other_index,
    other_lead,
    read_record,
    record_base,
    select_lead,
)

CHUNK_S = 1800.0  # a long record is processed 30 minutes at a time: the length of the records the model learnt from
WHOLE_S = 1.5 * CHUNK_S  # records up to this long are read and processed whole (one chunk)
MARGIN_S = 20.0  # signal read on each side of a chunk's core


@dataclass
class LeadSource:
    """One lead of a record: its name, rate, length and lead, and `read(a, b)` -> float32 mV (NaN invalid)."""

    name: str
    fs: float
    n_samples: int
    leads: tuple[str, ...]
    lead: str  # the header's name of the lead read
    warnings: tuple[str, ...]
    _whole: np.ndarray | None = None  # the lead, when read whole
    _base: Path | None = None
    _channel: int = 0
    _factor: float = 1.0

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def read(self, a: int, b: int) -> np.ndarray:
        a, b = max(0, int(a)), min(self.n_samples, int(b))
        if self._whole is not None:
            return self._whole[a:b]
        import wfdb

        try:
            rec = wfdb.rdrecord(str(self._base), sampfrom=a, sampto=b, channels=[self._channel])
        except Exception as e:
            raise RecordError(
                f"record {self.name}: cannot read samples {a}-{b} ({first_line(e, 160)}); the signal file may be "
                "truncated or damaged"
            ) from None
        x = None if rec.p_signal is None else rec.p_signal[:, 0]
        if x is None or x.shape[0] != b - a:
            raise RecordError(f"record {self.name}: signal file truncated (shorter than its header says)")
        return (x * self._factor).astype(np.float32)


def open_lead(path: str | os.PathLike, lead: str, whole_s: float = WHOLE_S) -> LeadSource:
    """The lead `lead` (or an alias, see io.record.LEAD_ALIASES) of a record, ready to be read in chunks.
    RecordError in one line for what read_record refuses, or a lead the record lacks."""
    return open_leads(path, lead, whole_s)[0]


def open_leads(path: str | os.PathLike, lead: str, whole_s: float = WHOLE_S) -> tuple[LeadSource, LeadSource | None]:
    """The lead `lead` as open_lead gives it, and the record's first other lead (None for a one-lead record,
    or where the other lead holds no valid sample): the beat detector looks at both."""
    base = record_base(path)
    header = base.with_name(base.name + ".hea")
    if header.is_file():
        lines, at = _header_lines(base.name, header)
        fields = lines[at].split()
        fs = _number(fields[2].split("/")[0].split("(")[0]) if len(fields) >= 3 else None
        n = _number(fields[3]) if len(fields) >= 4 else None
        if fs and n and n / fs > whole_s and "/" not in fields[0]:
            warnings = _check_header_fields(base.name, lines, at)
            pair = _chunked(base, lead, tuple(warnings))
            if pair is not None:
                return pair
    rec = read_record(path, annotations=False)
    x = select_lead(rec, lead)
    j = lead_index(rec.name, rec.leads, lead)
    src = LeadSource(rec.name, rec.fs, x.shape[0], rec.leads, rec.leads[j], rec.warnings, _whole=x)
    x2 = other_lead(rec, lead)
    other = None
    if x2 is not None:
        k = other_index(rec.leads, j)
        other = LeadSource(rec.name, rec.fs, x.shape[0], rec.leads, rec.leads[k], rec.warnings, x2)
    return src, other


def open_all_leads(path: str | os.PathLike, whole_s: float = WHOLE_S) -> list[LeadSource]:
    """Every lead of a record, as open_leads gives one (chunked when the record is long)."""
    base = record_base(path)
    header = base.with_name(base.name + ".hea")
    if header.is_file():
        lines, at = _header_lines(base.name, header)
        fields = lines[at].split()
        fs = _number(fields[2].split("/")[0].split("(")[0]) if len(fields) >= 3 else None
        n = _number(fields[3]) if len(fields) >= 4 else None
        if fs and n and n / fs > whole_s and "/" not in fields[0]:
            sources = _chunked_sources(base, tuple(_check_header_fields(base.name, lines, at)))
            if sources is not None:
                return sources
    rec = read_record(path, annotations=False)
    return [
        LeadSource(rec.name, rec.fs, rec.signal.shape[0], rec.leads, name, rec.warnings, _whole=rec.signal[:, k])
        for k, name in enumerate(rec.leads)
    ]


def _chunked(base: Path, lead: str, warnings: tuple[str, ...]) -> tuple[LeadSource, LeadSource | None] | None:
    """Chunked sources of a long single-segment record (the lead, the other lead); None where its header
    needs read_record's help."""
    sources = _chunked_sources(base, warnings)
    if sources is None:
        return None
    leads = sources[0].leads
    j = lead_index(base.name, leads, lead)
    k = other_index(leads, j)
    return sources[j], None if k is None else sources[k]


def _chunked_sources(base: Path, warnings: tuple[str, ...]) -> list[LeadSource] | None:
    """A chunked source for every lead of a long single-segment record; None where its header needs
    read_record's help. A truncated signal file fails here, before any work."""
    import wfdb

    try:
        h = wfdb.rdheader(str(base))
    except ValueError:  # e.g. a base date wfdb refuses: read_record knows how to read around it
        return None
    except Exception as e:
        raise RecordError(
            f"record {base.name}: cannot read it as WFDB ({first_line(e, 160)}); check the header and signal files"
        ) from None
    if not h.sig_name or not h.sig_len:
        return None
    for f in {Path(base.parent / fn) for fn in h.file_name}:
        if not f.is_file():
            raise RecordError(f"record {base.name}: signal file missing ({f}); copy it beside {base.name}.hea")
    leads = tuple(str(s) for s in h.sig_name)
    units = h.units or [""] * len(leads)
    sources = [
        LeadSource(
            base.name,
            float(h.fs),
            int(h.sig_len),
            leads,
            leads[i],
            warnings,
            None,
            base,
            i,
            _TO_MV.get((units[i] or "").strip().lower(), 1.0),
        )
        for i in range(len(leads))
    ]
    sources[0].read(sources[0].n_samples - 1, sources[0].n_samples)
    return sources


@dataclass(frozen=True)
class Chunk:
    """Samples [core_a, core_b) are this chunk's own; [read_a, read_b) are read (the core and its margins)."""

    core_a: int
    core_b: int
    read_a: int
    read_b: int

    @property
    def last(self) -> bool:
        return self.read_b == self.core_b


def plan_chunks(bounds: np.ndarray, fs: float, chunk_s: float = CHUNK_S, margin_s: float = MARGIN_S) -> list[Chunk]:
    """Chunks of whole segments: `bounds` are the segment edges in samples (segments + 1 values, from 0 to the
    record's length). One chunk when the record is no longer than 1.5 chunks; otherwise cores of
    chunk_s seconds of segments, the last one taking a remainder shorter than half a chunk."""
    n = int(bounds[-1])
    if n / fs <= 1.5 * chunk_s or len(bounds) <= 2:
        return [Chunk(0, n, 0, n)]
    seconds = bounds / fs
    edges = [0]
    while True:
        k = int(np.searchsorted(seconds, seconds[edges[-1]] + chunk_s - 1e-9))
        if k >= len(bounds) - 1 or seconds[-1] - seconds[k] < chunk_s / 2:
            edges.append(len(bounds) - 1)
            break
        edges.append(k)
    margin = int(round(margin_s * fs))
    out = []
    for i, j in zip(edges[:-1], edges[1:]):
        a, b = int(bounds[i]), int(bounds[j])
        out.append(Chunk(a, b, max(0, a - margin), min(n, b + margin)))
    return out
