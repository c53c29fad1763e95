"""Quality gating under noise: DS2 records with NSTDB noise added at 0 dB SNR (signal and noise sizes
measured as WFDB's nst measures them) in alternating 60-second
stretches (clean 0-60 s, noisy 60-120 s, clean 120-180 s, ...), predicted by the shipped model through
`ecgmtl predict` from WFDB files. Prints, per record and pooled, the share of beats labelled `unclassified`
inside the noisy stretches and outside them, and the same records without any noise.

    python data_scripts/noise_gating.py [--model models/mitdb-resnet1d.onnx] [--noise ma] [--snr 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import wfdb

from ecgmtl.data.mitdb import AAMI, DS2
from ecgmtl.data.paths import data_root, database_dir
from ecgmtl.deploy.models import default_model_path
from ecgmtl.deploy.predict import predict_record
from ecgmtl.deploy.runtime import OnnxModel
from ecgmtl.io.record import read_record, select_lead
from ecgmtl.signal.noise import add_noise, gating_rates, noise_track, noisy_mask


def noisy_record(src: Path, dst: Path, noise: np.ndarray, snr_db: float, offset: int) -> np.ndarray:
    """Write src's MLII lead with noise added as the WFDB record dst; return the noisy-sample mask."""
    rec = read_record(src)  # its R peaks set the signal size, as in nst
    x = select_lead(rec, "MLII").astype(np.float64)
    mask = noisy_mask(len(x), rec.fs)
    beats = rec.annotation.sample[np.isin(rec.annotation.symbol, list(AAMI))]
    y = add_noise(x, noise, mask, snr_db, beats, rec.fs, offset)
    wfdb.wrsamp(
        dst.name,
        fs=rec.fs,
        units=["mV"],
        sig_name=["MLII"],
        p_signal=y[:, None],
        fmt=["16"],
        adc_gain=[200.0],
        baseline=[0],
        write_dir=str(dst.parent),
    )
    return mask


def run(model: OnnxModel, records: list[str], noise_kind: str = "ma", snr_db: float = 0.0) -> dict:
    root = data_root()
    db, nst = database_dir(root, "mitdb"), database_dir(root, "nstdb")
    noise, _ = noise_track(nst, noise_kind)
    per, clean_only = {}, {"beats": 0, "unclassified": 0}
    with tempfile.TemporaryDirectory() as d:
        for i, name in enumerate(records):
            mask = noisy_record(db / name, Path(d) / f"{name}n", noise, snr_db, offset=i * 36000)
            per[name] = gating_rates(predict_record(model, Path(d) / f"{name}n"), mask, 360.0)
            base = predict_record(model, db / name)
            clean_only["beats"] += base["n_beats"]
            clean_only["unclassified"] += base["quality"]["unclassified_beats"]
    tot = {k: sum(r[k] for r in per.values()) for k in next(iter(per.values()))}
    return {
        "noise": noise_kind,
        "snr_db": snr_db,
        "records": records,
        "per_record": per,
        "pooled": tot,
        "unclassified_share_noisy": tot["unclassified_noisy"] / max(tot["beats_noisy"], 1),
        "unclassified_share_clean_stretches": tot["unclassified_clean"] / max(tot["beats_clean"], 1),
        "unclassified_share_no_noise": clean_only["unclassified"] / max(clean_only["beats"], 1),
        "thresholds": model.meta.get("quality"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--noise", default="ma", help="NSTDB record: ma (muscle artifact), bw (baseline wander)")
    ap.add_argument("--snr", type=float, default=0.0)
    ap.add_argument("--records", nargs="*", default=list(DS2))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = run(OnnxModel(args.model or default_model_path(), device="cpu"), args.records, args.noise, args.snr)
    if args.json:
        print(json.dumps(res, indent=1))
        return
    print(f"{'record':<8}{'noisy beats':>12}{'unclass.':>10}{'clean beats':>13}{'unclass.':>10}")
    for name, r in res["per_record"].items():
        print(
            f"{name:<8}{r['beats_noisy']:>12}{r['unclassified_noisy']:>10}{r['beats_clean']:>13}{r['unclassified_clean']:>10}"
        )
    print(
        f"NSTDB '{res['noise']}' at {res['snr_db']:g} dB: unclassified {100 * res['unclassified_share_noisy']:.1f}% of "
        f"beats in noisy stretches, {100 * res['unclassified_share_clean_stretches']:.1f}% in the clean stretches "
        f"between them, {100 * res['unclassified_share_no_noise']:.1f}% of the same records without noise."
    )


if __name__ == "__main__":
    main()
