"""A corpus of broken and unusual records, built here from real PhysioNet records, through one
`ecgmtl predict FOLDER` run: no traceback on any; each predicts or fails with a one-line reason; nothing
half-written. A few failures are also checked one by one (exit 3, one line)."""

import csv
import json
import shutil

import numpy as np
import pytest
import scipy.io
import wfdb
from conftest import DATA, MITDB, ROOT, run_cli
from scipy.signal import resample_poly

MODEL = ROOT / "models" / "mitdb-resnet1d.onnx"
SECONDS = 90  # each record holds this much of the real one: enough beats, a fast test


def _base(name="100"):
    r = wfdb.rdrecord(str(MITDB / name), sampto=SECONDS * 360)
    return r.p_signal.copy(), list(r.sig_name)


def _write(d, name, sig, names=("MLII", "V5"), fs=360, fmt="16", units="mV", comments=None):
    sig = np.atleast_2d(np.asarray(sig, float).T).T
    n = sig.shape[1]
    names = list(names)[:n] + [f"ch{j}" for j in range(len(names), n)]
    top = {"16": 30000, "212": 2000, "80": 120}[fmt]  # keep the digital values inside the format's range
    peak = float(np.nanmax(np.abs(sig))) if np.isfinite(sig).any() else 1.0
    gain = min(200.0, top / max(peak, 1e-9))
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * n,
        sig_name=names,
        p_signal=sig,
        fmt=[fmt] * n,
        adc_gain=[gain] * n,
        baseline=[0] * n,
        write_dir=str(d),
        comments=comments,
    )


def _header(d, name, text, dat_bytes=None):
    (d / f"{name}.hea").write_text(text)
    if dat_bytes is not None:
        (d / f"{name}.dat").write_bytes(dat_bytes)


def _resampled(fs):
    x, _ = _base()
    return resample_poly(x, fs, 360, axis=0)


def build(d):
    """Write the corpus into folder d; returns {record name: 'ok' | 'fail' | 'either'}."""
    x, _ = _base()
    want = {}

    def ok(name, *a, **k):
        _write(d, name, *a, **k)
        want[name] = "ok"

    ok("plain", x)
    for fs in (50, 128, 250, 500, 1000):
        ok(f"fs{fs}", _resampled(fs), fs=fs)
    y = x.copy()
    y[1000:2080] = np.nan
    ok("nan_run", y)
    y = x.copy()
    for s in range(0, len(y), 3600):
        y[s : s + 90] = np.nan
    ok("nan_runs_many", y)
    ok("flat_all", np.full_like(x, 0.2))
    y = x.copy()
    y[3600:14400] = y[3600]
    ok("flat_part", y)
    ok("clipped", np.clip(x, -0.4, 0.4))
    ok("one_second", x[:360])
    ok("noise_gauss", np.random.default_rng(0).normal(0, 0.1, x.shape))
    ok("noise_nstdb_ma", wfdb.rdrecord(str(DATA / "nstdb" / "ma"), sampto=SECONDS * 360).p_signal)
    ok("lead_II", x, names=("II", "V5"))
    ok("lead_ECG", x[:, :1], names=("ECG",))
    ok("lead_ML2", x, names=("ML2", "V5"))
    ok("lead_lowercase", x, names=("mlii", "v5"))
    ok("lead_second", x[:, ::-1], names=("V5", "MLII"))
    ok("three_leads", np.c_[x, x[:, :1]], names=("V1", "MLII", "V5"))
    ok("units_uV", x * 1000, units="uV")
    ok("inverted", -x)
    ok("huge_amplitude", x * 50)
    ok("tiny_amplitude", x * 0.002)
    ok("dc_offset", x + 30)
    bw = wfdb.rdrecord(str(DATA / "nstdb" / "bw"), sampto=SECONDS * 360).p_signal
    ok("baseline_wander", x + 3 * bw)
    ok("fmt212", x, fmt="212")
    ok("fmt80", np.clip(x, -3, 3), fmt="80")
    ok("comments", x, comments=["age: 69", "sex: M", "a note, with commas"])
    # a 12-lead PTB-XL record (another database; lead II is taken)
    ptb = sorted((DATA / "ptbxl").rglob("*_lr.hea"))[0]
    shutil.copy(ptb, d / "ptbxl12.hea")
    shutil.copy(ptb.with_suffix(".dat"), d / ptb.with_suffix(".dat").name)
    (d / "ptbxl12.hea").write_text((d / "ptbxl12.hea").read_text().replace(ptb.stem, "ptbxl12", 1))
    want["ptbxl12"] = "ok"
    # the PhysioNet challenge .mat form (MATLAB v4, 24-byte header)
    digital = np.round(x * 200).astype(np.int16)
    scipy.io.savemat(str(d / "matform.mat"), {"val": digital.T}, format="4")
    _header(
        d,
        "matform",
        f"matform 2 360 {len(x)}\nmatform.mat 16+24 200/mV 16 0 0 0 0 MLII\nmatform.mat 16+24 200/mV 16 0 0 0 0 V5\n",
    )
    want["matform"] = "ok"
    # headers whose time or date wfdb refuses: read anyway, with a warning
    for i, dt in enumerate(["25:99:00 45/13/2020", "12:30:00 2020-13-45", "12:30:00 01/02/0000"]):
        _write(d, f"baddate{i}", x)
        hea = (d / f"baddate{i}.hea").read_text().splitlines()
        hea[0] = " ".join(hea[0].split()[:4]) + " " + dt
        (d / f"baddate{i}.hea").write_text("\n".join(hea) + "\n")
        want[f"baddate{i}"] = "ok"
    # a multi-segment record (two segments of the same lead)
    _write(d, "seg_a", x[: len(x) // 2])
    _write(d, "seg_b", x[len(x) // 2 :])
    _header(d, "multiseg", f"multiseg/2 2 360 {len(x)}\nseg_a {len(x) // 2}\nseg_b {len(x) - len(x) // 2}\n")
    want.update(multiseg="ok", seg_a="ok", seg_b="ok")
    # short records: either a clear answer or a clear refusal
    for n in (1, 2, 10, 100):
        _write(d, f"len{n}", x[:n])
        want[f"len{n}"] = "either"

    # broken: each must fail with a reason
    def fail(name, text, dat=None):
        _header(d, name, text, dat)
        want[name] = "fail"

    good = (d / "plain.dat").read_bytes()
    sig_lines = "{n}.dat 16 200/mV 16 0 0 0 0 MLII\n{n}.dat 16 200/mV 16 0 0 0 0 V5\n"
    fail("empty_header", "", good)
    fail("binary_header", "\x00\x01\x02garbage\xff", good)
    fail("missing_dat", "missing_dat 2 360 32400\n" + sig_lines.format(n="missing_dat"))
    fail("truncated_dat", "truncated_dat 2 360 32400\n" + sig_lines.format(n="truncated_dat"), good[: len(good) // 2])
    fail("empty_dat", "empty_dat 2 360 32400\n" + sig_lines.format(n="empty_dat"), b"")
    fail("one_byte_dat", "one_byte_dat 2 360 32400\n" + sig_lines.format(n="one_byte_dat"), b"\x01")
    fail("nsig_mismatch", "nsig_mismatch 3 360 32400\n" + sig_lines.format(n="nsig_mismatch"), good)
    fail(
        "bad_format", "bad_format 2 360 32400\n" + sig_lines.format(n="bad_format").replace(" 16 200", " 999 200"), good
    )
    fail("fs_zero", "fs_zero 2 0 32400\n" + sig_lines.format(n="fs_zero"), good)
    fail("fs_negative", "fs_negative 2 -360 32400\n" + sig_lines.format(n="fs_negative"), good)
    fail("fs_text", "fs_text 2 abc 32400\n" + sig_lines.format(n="fs_text"), good)
    fail("gain_text", "gain_text 2 360 32400\n" + sig_lines.format(n="gain_text").replace("200/mV", "abc/mV"), good)
    fail("no_signals", "no_signals 0 360 32400\n", good)
    fail("huge_length", "huge_length 2 360 900000000\n" + sig_lines.format(n="huge_length"), good)
    fail("negative_length", "negative_length 2 360 -5\n" + sig_lines.format(n="negative_length"), good)
    fail(
        "png_as_dat",
        "png_as_dat 2 360 32400\n" + sig_lines.format(n="png_as_dat"),
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 500,
    )
    _write(d, "no_lead", x, names=("V1", "V2"))
    want["no_lead"] = "fail"
    y = x.copy()
    y[:, 0] = np.nan
    _write(d, "all_nan_lead", y)
    want["all_nan_lead"] = "fail"
    (d / "dat_is_folder.dat").mkdir()
    fail("dat_is_folder", "dat_is_folder 2 360 32400\n" + sig_lines.format(n="dat_is_folder"))
    fail("header_only_line", "header_only_line\n", good)
    return want


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    src = tmp_path_factory.mktemp("corpus")
    return src, build(src)


@pytest.mark.physionet
def test_a_corpus_of_broken_and_unusual_records(corpus, tmp_path):
    src, want = corpus
    out = tmp_path / "out"
    assert len(want) >= 50
    res = run_cli(
        "predict",
        src,
        "--model",
        MODEL,
        "--device",
        "cpu",
        "--out",
        out,
        "--json",
        "--csv",
        "--annotate",
        "--no-progress",
        timeout=900,
    )
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 3  # some records failed, and the exit code says so
    doc = json.loads(res.stdout)
    got = {r["record"]["name"]: "ok" for r in doc["records"]} | {f["name"]: "fail" for f in doc["failed"]}
    assert set(got) == set(want)
    wrong = {n: (want[n], got[n]) for n in want if want[n] != "either" and want[n] != got[n]}
    assert not wrong, [
        (n, w, next((f["error"] for f in doc["failed"] if f["name"] == n), "")) for n, w in wrong.items()
    ]
    for f in doc["failed"]:
        assert "\n" not in f["error"] and f["error"], f
    for r in doc["records"]:  # every file of a record that predicted is whole
        name = r["record"]["name"]
        rows = list(csv.DictReader((out / f"{name}.beats.csv").open()))
        assert len(rows) == r["n_beats"]
        assert len(wfdb.rdann(str(out / name), "ecgmtl").sample) == r["n_beats"] if r["n_beats"] else True
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert len(summary) == len(want)
    by = {r["record"]["name"]: r for r in doc["records"]}
    assert all("warnings" in by[f"baddate{i}"]["record"] for i in range(3))
    assert by["fs1000"]["n_beats"] == pytest.approx(by["plain"]["n_beats"], abs=3)
    assert by["fs50"]["n_beats"] == pytest.approx(by["plain"]["n_beats"], abs=5)
    assert by["matform"]["n_beats"] == by["plain"]["n_beats"]
    assert by["multiseg"]["n_beats"] == pytest.approx(by["plain"]["n_beats"], abs=2)


@pytest.mark.physionet
@pytest.mark.parametrize("name", ["truncated_dat", "fs_text", "no_lead", "png_as_dat"])
def test_single_broken_records_exit_3_with_one_line(name, corpus):
    res = run_cli("predict", corpus[0] / name, "--model", MODEL, "--device", "cpu")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("ecgmtl: model ")]
    assert res.returncode == 3 and len(lines) == 1 and lines[0].startswith("ecgmtl: error: "), res.stderr
