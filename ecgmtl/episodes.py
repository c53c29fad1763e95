"""Rhythm episodes as (start, end) sample intervals: the reference ones from a WFDB annotation's rhythm aux notes
(`(AFIB`, `(AFL`, `(N`, ...: each opens a rhythm that lasts until the next rhythm note or the record's end), and
the scores EC57 gives an episode detector:

- episode sensitivity: the share of reference episodes that some detected episode overlaps;
- episode positive predictivity: the share of detected episodes that overlap some reference episode;
- duration sensitivity: the reference time that is also detected time, over the reference time;
- duration positive predictivity: the same overlap over the detected time;
- burden: the share of the record's time in the rhythm.

Episodes of a record are pooled for the duration figures by summing the times (gross statistics).
"""

from __future__ import annotations

import numpy as np


def rhythm_episodes(samples, aux_notes, n_samples: int, rhythms: tuple[str, ...] = ("(AFIB",)) -> list[tuple[int, int]]:
    """The intervals whose rhythm note is one of `rhythms` (adjacent ones merged)."""
    marks = [(int(s), a.strip("\x00").strip()) for s, a in zip(samples, aux_notes) if a and a.startswith("(")]
    out: list[tuple[int, int]] = []
    for k, (s, note) in enumerate(marks):
        if note not in rhythms:
            continue
        end = marks[k + 1][0] if k + 1 < len(marks) else n_samples
        if out and out[-1][1] >= s:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif end > s:
            out.append((s, end))
    return out


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return sum(max(0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def _touches(ep: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(min(ep[1], e) > max(ep[0], s) for s, e in others)


def episode_scores(ref: list[tuple[int, int]], found: list[tuple[int, int]], n_samples: int) -> dict:
    """EC57's episode and duration sensitivity and positive predictivity (None where undefined), the
    counts and times they come from (in samples), and the burden of each."""
    overlap = _overlap(ref, found)
    ref_t, found_t = sum(e - s for s, e in ref), sum(e - s for s, e in found)
    hit_ref = sum(_touches(ep, found) for ep in ref)
    hit_found = sum(_touches(ep, ref) for ep in found)
    return {
        "episode_se": hit_ref / len(ref) if ref else None,
        "episode_ppv": hit_found / len(found) if found else None,
        "duration_se": overlap / ref_t if ref_t else None,
        "duration_ppv": overlap / found_t if found_t else None,
        "ref_episodes": len(ref),
        "ref_detected": hit_ref,
        "found_episodes": len(found),
        "found_true": hit_found,
        "ref_samples": ref_t,
        "found_samples": found_t,
        "overlap_samples": overlap,
        "ref_burden": ref_t / n_samples if n_samples else None,
        "found_burden": found_t / n_samples if n_samples else None,
    }


def pooled(scores: list[dict]) -> dict:
    """Gross statistics over records: counts and times summed, then the ratios."""
    tot = {k: sum(s[k] for s in scores) for k in ("ref_samples", "found_samples", "overlap_samples")}
    ep_ref, hit_ref = (sum(s[k] for s in scores) for k in ("ref_episodes", "ref_detected"))
    ep_found, hit_found = (sum(s[k] for s in scores) for k in ("found_episodes", "found_true"))
    return {
        "episode_se": hit_ref / ep_ref if ep_ref else None,
        "episode_ppv": hit_found / ep_found if ep_found else None,
        "duration_se": tot["overlap_samples"] / tot["ref_samples"] if tot["ref_samples"] else None,
        "duration_ppv": tot["overlap_samples"] / tot["found_samples"] if tot["found_samples"] else None,
    }


def intervals(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in a boolean array, as (start, end) indices."""
    d = np.diff(np.r_[0, np.asarray(mask, dtype=np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))
