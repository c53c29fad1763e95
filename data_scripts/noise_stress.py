"""Noise stress test of the beat model as a user runs it: MIT-BIH records with NSTDB noise added to both leads
in alternating minutes (clean 0-60 s, noisy 60-120 s, ...) at several SNRs (nst's measure), each written as
a WFDB record without its annotations and run through the prediction engine (beats detected, quality gate on).
For every reference beat in the noisy minutes (AAMI N, S, V, F; Q left out): correct, wrong, unclassified or
missed (no detection within 150 ms); and, on the same records without noise, the share of all beats and of V
beats held back as unclassified. With --denoise, the same again with every record first restored by the
restoration model (what `ecgmtl predict --denoise` does), the two tables side by side.

Honest protocol: DS1 takes noise from the first half (in time) of each NSTDB record and is for choosing;
DS2 takes the second half and is for reporting.

    python data_scripts/noise_stress.py --records DS2 [--kinds ma,bw] [--snr 12,6,0] [--model M] [--json F]
        [--denoise [--denoise-model R]]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import wfdb

from ecgmtl.data.mitdb import AAMI, DS1, DS2
from ecgmtl.data.paths import data_root, database_dir
from ecgmtl.deploy.models import default_model_path
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.io.record import read_record
from ecgmtl.metrics import match_beats
from ecgmtl.signal.noise import noise_half, noisy_leads, noisy_mask
from ecgmtl.tasks.beats.engine import run_beats

OUTCOMES = ("correct", "wrong", "unclassified", "missed")


def write_record(dst: Path, rec, signal: np.ndarray, fs: float | None = None) -> None:
    """`signal` (samples, leads; mV) as the WFDB record dst, with rec's lead names, at rec's rate or `fs`."""
    wfdb.wrsamp(
        dst.name,
        fs=fs or rec.fs,
        units=["mV"] * signal.shape[1],
        sig_name=list(rec.leads),
        p_signal=signal,
        fmt=["16"] * signal.shape[1],
        adc_gain=[200.0] * signal.shape[1],
        baseline=[0] * signal.shape[1],
        write_dir=str(dst.parent),
    )


def outcomes(run, ref: np.ndarray, ref_c: np.ndarray, fs: float) -> np.ndarray:
    """Per reference beat: 0 correct, 1 wrong, 2 unclassified, 3 missed."""
    labels = np.array(run.table.labels(run.classes), dtype=object)
    j, ok = match_beats(ref, run.table.samples, int(0.15 * fs))
    out = np.full(len(ref), 3)
    if len(labels):
        got = labels[j]
        out[ok & (got == "unclassified")] = 2
        out[ok & (got != "unclassified") & (got == ref_c)] = 0
        out[ok & (got != "unclassified") & (got != ref_c)] = 1
    return out


def classify(model: OnnxModel, path: Path, restorer: OnnxModel | None):
    """run_beats on the record at `path`, or on its restored copy (restore_record into a folder beside it)."""
    if restorer is None:
        return run_beats(model, path)
    from ecgmtl.tasks.restore.engine import restore_record

    restored = restore_record(restorer, path, path.parent / "restored")
    return run_beats(model, restored.header.with_suffix(""))


def run(
    model: OnnxModel,
    records: list[str],
    kinds: list[str],
    snrs: list[float],
    half: str,
    restorer: OnnxModel | None = None,
) -> dict:
    root = data_root()
    db, nst = database_dir(root, "mitdb"), database_dir(root, "nstdb")
    tracks = {k: noise_half(read_record(nst / k, annotations=False).signal.astype(np.float64), half) for k in kinds}
    counts = {f"{k}@{s:g}": np.zeros(4, int) for k in kinds for s in snrs}
    clean = {"beats": 0, "unclassified": 0, "V": 0, "V_unclassified": 0, "outcomes": np.zeros(4, int)}
    per_record = {}
    with tempfile.TemporaryDirectory() as d:
        for i, name in enumerate(records):
            rec = read_record(db / name)
            keep = np.isin(rec.annotation.symbol, [s for s, c in AAMI.items() if c != "Q"])
            ref = rec.annotation.sample[keep]
            ref_c = np.array([AAMI[s] for s in np.asarray(rec.annotation.symbol)[keep]], dtype=object)
            write_record(Path(d) / name, rec, rec.signal.astype(np.float64))
            base = outcomes(classify(model, Path(d) / name, restorer), ref, ref_c, rec.fs)
            clean["outcomes"] += np.bincount(base, minlength=4)
            clean["beats"] += len(ref)
            clean["unclassified"] += int((base == 2).sum())
            clean["V"] += int((ref_c == "V").sum())
            clean["V_unclassified"] += int(((base == 2) & (ref_c == "V")).sum())
            mask = noisy_mask(rec.signal.shape[0], rec.fs)
            in_noise = mask[ref]
            per_record[name] = {}
            for k in kinds:
                for s in snrs:
                    noisy = noisy_leads(rec.signal, tracks[k], mask, s, rec.annotation.sample, rec.fs, i * 36_000)
                    write_record(Path(d) / f"{name}n", rec, noisy)
                    o = outcomes(classify(model, Path(d) / f"{name}n", restorer), ref, ref_c, rec.fs)[in_noise]
                    c = np.bincount(o, minlength=4)
                    counts[f"{k}@{s:g}"] += c
                    per_record[name][f"{k}@{s:g}"] = c.tolist()
            print(f"{name} done", file=sys.stderr)
    shares = {key: dict(zip(OUTCOMES, (c / max(c.sum(), 1)).round(4).tolist())) for key, c in counts.items()}
    return {
        "records": records,
        "noise_half": half,
        "beats_in_noisy_minutes": {key: int(c.sum()) for key, c in counts.items()},
        "shares": shares,
        "clean": {
            "unclassified_share": clean["unclassified"] / max(clean["beats"], 1),
            "V_unclassified_share": clean["V_unclassified"] / max(clean["V"], 1),
            "shares": dict(zip(OUTCOMES, (clean["outcomes"] / max(clean["beats"], 1)).round(4).tolist())),
            "beats": clean["beats"],
        },
        "per_record": per_record,
        "quality": model.meta.get("quality"),
        "denoised_with": None if restorer is None else restorer.name,
    }


def table(res: dict) -> str:
    rows = [
        "| noise @ SNR | beats in noisy minutes | correct | wrong | unclassified | missed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    c = res["clean"]["shares"]
    rows.append(
        f"| none (the same records clean) | {res['clean']['beats']} | "
        + " | ".join(f"{100 * c[o]:.1f}%" for o in OUTCOMES)
        + " |"
    )
    for key, sh in res["shares"].items():
        kind, snr = key.split("@")
        rows.append(
            f"| {kind} @ {snr} dB | {res['beats_in_noisy_minutes'][key]} | "
            + " | ".join(f"{100 * sh[o]:.1f}%" for o in OUTCOMES)
            + " |"
        )
    rows.append(
        f"\nClean records: {100 * res['clean']['unclassified_share']:.2f}% of all beats and "
        f"{100 * res['clean']['V_unclassified_share']:.2f}% of V beats unclassified."
    )
    return "\n".join(rows)


def side_by_side(res: dict, den: dict) -> str:
    """correct / wrong / unclassified / missed, as recorded and after --denoise, per noise and SNR."""
    rows = [
        f"| noise @ SNR | beats | as recorded: correct / wrong / unclassified / missed | --denoise ({den['denoised_with']}) |",
        "|---|---:|---|---|",
    ]
    fmt = lambda sh: " / ".join(f"{100 * sh[o]:.1f}" for o in OUTCOMES)  # noqa: E731
    rows.append(
        f"| none (clean) | {res['clean']['beats']} | {fmt(res['clean']['shares'])} | {fmt(den['clean']['shares'])} |"
    )
    for key, sh in res["shares"].items():
        kind, snr = key.split("@")
        n = res["beats_in_noisy_minutes"][key]
        rows.append(f"| {kind} @ {snr} dB | {n} | {fmt(sh)} | {fmt(den['shares'][key])} |")
    for label, r in (("as recorded", res), ("--denoise", den)):
        rows.append(
            f"\nClean records, {label}: {100 * r['clean']['unclassified_share']:.2f}% of all beats and "
            f"{100 * r['clean']['V_unclassified_share']:.2f}% of V beats unclassified."
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--records", default="DS2", help="DS1 (noise from the first half), DS2 (the second) or a list")
    ap.add_argument("--kinds", default="ma,bw")
    ap.add_argument("--snr", default="12,6,0")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--denoise", action="store_true", help="also with every record restored first (side by side)")
    ap.add_argument("--denoise-model", type=Path, default=None, help="restoration model (default: the shipped one)")
    ap.add_argument("--readme", action="store_true", help="with --denoise: the table into README.md (noise-denoise)")
    args = ap.parse_args()
    names = {"DS1": list(DS1), "DS2": list(DS2)}.get(args.records) or args.records.split(",")
    half = "first" if set(names) <= set(DS1) else "second"
    if set(names) & set(DS1) and set(names) & set(DS2):
        sys.exit("noise_stress: give DS1 or DS2 records, not both (they take different halves of the noise)")
    model = OnnxModel(args.model or default_model_path(), device="cpu")
    kinds, snrs = args.kinds.split(","), [float(s) for s in args.snr.split(",")]
    res = run(model, names, kinds, snrs, half)
    if not args.denoise:
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
        print(table(res))
        return
    from ecgmtl.tasks.restore.engine import open_restoration_model

    restorer = open_restoration_model(args.denoise_model, "cpu")
    den = run(model, names, kinds, snrs, half, restorer)
    if args.json:
        args.json.write_text(json.dumps({"as_recorded": res, "denoised": den}, indent=1))
    text = side_by_side(res, den)
    print(text)
    if args.readme:
        from ecgmtl.readme import update_readme

        root = Path(__file__).resolve().parents[1]
        cmd = f"python data_scripts/noise_stress.py --records {args.records} --denoise --readme"
        update_readme(root / "README.md", "results:noise-denoise", f"`{cmd}` (model {model.name}):\n\n{text}")


if __name__ == "__main__":
    main()
