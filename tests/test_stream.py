"""A long record read and processed a chunk at a time (ecgmtl.io.stream, ecgmtl.tasks.beats.engine): the chunk
plan, the chunked reader against reading the record whole, and the beats of a chunked run against the same
record processed whole, on real MIT-BIH records (two of them joined into a one-hour record)."""

import numpy as np
import pytest
from conftest import MITDB, ROOT, run_cli

from ecgmtl.io.stream import Chunk, plan_chunks
from ecgmtl.signal.quality import segment_bounds


def test_short_records_are_one_chunk():
    b = segment_bounds(650_000, 360.0, 10.0)
    assert plan_chunks(b, 360.0, chunk_s=1800) == [Chunk(0, 650_000, 0, 650_000)]


@pytest.mark.parametrize("n", [360 * 3600 * 24, 360 * 3600 * 24 + 1234, 360 * 4000, 250 * 7777])
def test_chunk_cores_tile_the_record_on_segment_edges(n):
    fs = 360.0 if n % 360 == 0 or n == 360 * 3600 * 24 + 1234 else 250.0
    b = segment_bounds(n, fs, 10.0)
    chunks = plan_chunks(b, fs, chunk_s=1800, margin_s=20)
    assert chunks[0].core_a == 0 and chunks[-1].core_b == n
    for c, d in zip(chunks, chunks[1:]):
        assert c.core_b == d.core_a  # no gap, no overlap
    edges = set(b.tolist())
    for c in chunks:
        assert c.core_a in edges and c.core_b in edges  # a quality segment never straddles two chunks
        assert c.read_a == max(0, c.core_a - 20 * fs) and c.read_b == min(n, c.core_b + 20 * fs)
        assert 0.5 * 1800 * fs <= c.core_b - c.core_a < 1.5 * 1800 * fs + 10 * fs


def joined(tmp_path, names=("100", "101")):
    """Records of MIT-BIH joined end to end (both leads, digital values kept): one record of about an hour."""
    import wfdb

    parts = [wfdb.rdrecord(str(MITDB / n), physical=False) for n in names]
    d = np.concatenate([p.d_signal for p in parts])
    p = parts[0]
    wfdb.wrsamp(
        "joined",
        fs=p.fs,
        units=p.units,
        sig_name=p.sig_name,
        d_signal=d,
        fmt=["16", "16"],
        adc_gain=p.adc_gain,
        baseline=p.baseline,
        write_dir=str(tmp_path),
    )
    return tmp_path / "joined", [len(x.d_signal) for x in parts]


@pytest.mark.physionet
def test_the_chunked_reader_gives_the_lead_as_read_whole(tmp_path):
    from ecgmtl.io.record import read_record, select_lead
    from ecgmtl.io.stream import open_leads

    path, _ = joined(tmp_path)
    src, other = open_leads(path, "MLII", whole_s=600)
    assert src._whole is None and src.n_samples == 2 * 650_000 and src.fs == 360.0 and src.lead == "MLII"
    assert other is not None and other._whole is None and other.lead == "V5"
    rec = read_record(path, annotations=False)
    for lead, source in (("MLII", src), ("V5", other)):
        whole = select_lead(rec, lead)
        for a, b in ((0, 1000), (123_456, 654_321), (1_299_000, 1_300_000)):
            np.testing.assert_array_equal(source.read(a, b), whole[a:b])
    short_src, short_other = open_leads(MITDB / "100", "MLII")  # read whole: the same pair
    assert short_src._whole is not None and short_other.lead == "V5"


@pytest.mark.physionet
def test_a_chunked_run_finds_the_beats_of_a_whole_run(tmp_path, monkeypatch):
    """The joined record cut into 10-minute chunks against the record processed whole: the same beats within
    3 samples (the seams lose or double none), and the beats' classes mostly the same (a chunk has its own
    R amplitude and mean RR, as a record of its own)."""
    import ecgmtl.tasks.beats.engine as engine
    from ecgmtl.deploy.models import default_model_path
    from ecgmtl.deploy.runtime import OnnxModel
    from ecgmtl.io import stream

    path, _ = joined(tmp_path)
    model = OnnxModel(default_model_path(), "cpu")
    whole = engine.run_beats(model, path, templates=True)
    monkeypatch.setattr(engine, "open_leads", lambda p, lead: stream.open_leads(p, lead, whole_s=600))
    monkeypatch.setattr(engine, "plan_chunks", lambda b, fs: stream.plan_chunks(b, fs, chunk_s=600))
    seen = []
    chunked = engine.run_beats(model, path, templates=True, progress=lambda d, t: seen.append((d, t)))
    assert len(seen) == 6 and seen[-1] == (chunked.source.duration_s, chunked.source.duration_s)
    a, b = whole.table.samples, chunked.table.samples
    assert abs(len(a) - len(b)) <= 2 and np.all(np.diff(b) > 0.2 * 360)
    j = np.clip(np.searchsorted(b, a), 1, len(b) - 1)
    dist = np.minimum(np.abs(b[j] - a), np.abs(b[j - 1] - a))
    assert np.mean(dist <= 3) > 0.999
    same = np.searchsorted(b, a[dist <= 3] - 3)
    assert np.mean(whole.table.pred[dist <= 3] == chunked.table.pred[same]) > 0.9
    clean = sum(w is None for w in chunked.table.why)
    assert sum(n for _, n in chunked.templates.values()) == clean  # every clean beat counted in its class
    assert chunked.templates["N"][0].shape == whole.templates["N"][0].shape


@pytest.mark.physionet
def test_holter_on_a_long_record_with_a_lead_off_hour(tmp_path):
    """Two records with 30 minutes of lead-off (invalid samples) between them: processed in chunks (the NaN
    chunk is no error), the lost time reported, beats on both sides."""
    import json

    import wfdb

    parts = [wfdb.rdrecord(str(MITDB / n), physical=False) for n in ("100", "103")]
    gap = np.full((1800 * 360, 2), -32768, dtype=np.int64)  # WFDB's invalid sample in format 16
    d = np.concatenate([parts[0].d_signal, gap, parts[1].d_signal])
    p = parts[0]
    wfdb.wrsamp(
        "gap",
        fs=p.fs,
        units=p.units,
        sig_name=p.sig_name,
        d_signal=d,
        fmt=["16", "16"],
        adc_gain=p.adc_gain,
        baseline=p.baseline,
        write_dir=str(tmp_path),
    )
    out = tmp_path / "out"
    res = run_cli("holter", tmp_path / "gap", "--out", out, "--json", cwd=ROOT)
    assert res.returncode == 0, res.stderr
    rep = json.loads(res.stdout)
    assert rep["recording"]["duration_s"] == pytest.approx(1.5 * 3600, abs=20)
    assert 1790 <= rep["recording"]["lost_to_noise_s"] <= 1900
    assert rep["pauses"]["count"] < 5  # lead-off is not a pause
    hourly = rep["heart_rate"]["hourly"]
    assert hourly[0]["beats"] > 1500 and hourly[1]["beats"] > 1500  # beats before and after the gap
    assert "holter: 100%" in res.stderr  # the progress bar ran


@pytest.mark.physionet
def test_a_truncated_long_record_is_one_line_and_no_report(tmp_path):
    path, _ = joined(tmp_path)
    dat = path.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 2])
    out = tmp_path / "out"
    res = run_cli("holter", path, "--out", out, cwd=ROOT)
    assert res.returncode == 3 and "truncated" in res.stderr
    assert len([ln for ln in res.stderr.splitlines() if "error" in ln]) == 1 and "Traceback" not in res.stderr
    assert not out.exists() or not any(out.iterdir())
