import numpy as np
import pytest
from conftest import MITDB

from ecgmtl.data.mitdb import CLASSES, DS1, DS2, PACED, ShardedArray, load_beats, resolve_records
from ecgmtl.errors import RecordError
from ecgmtl.signal.preprocess import PreprocessConfig

# AAMI counts of the inter-patient split (de Chazal et al. 2004), as every paper reports them.
DS1_COUNTS = {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
DS2_COUNTS = {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}


def test_split_is_inter_patient():
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2) and not set(PACED) & (set(DS1) | set(DS2))
    assert resolve_records(["DS1", "100"]) == DS1 + ["100"]
    with pytest.raises(RecordError):
        resolve_records("DS3")


@pytest.mark.physionet
@pytest.mark.parametrize("split,counts", [(DS1, DS1_COUNTS), (DS2, DS2_COUNTS)])
def test_aami_counts_match_the_literature(split, counts, cache):
    ds = load_beats(MITDB, list(split), PreprocessConfig(), cache)
    assert dict(zip(CLASSES, np.bincount(ds.labels, minlength=5).tolist())) == counts
    assert ds.windows.shape == (sum(counts.values()), 1, PreprocessConfig().window)


@pytest.mark.physionet
def test_cache_is_one_shard_per_record_and_preprocessing(cache):
    cfg = PreprocessConfig()
    a = load_beats(MITDB, ["100", "101"], cfg, cache)
    shards = set(cache.glob("mitdb-*"))
    assert {p.name.split("-")[1] for p in shards} >= {"100", "101"}
    b = load_beats(MITDB, ["100", "101"], cfg, cache)
    assert set(cache.glob("mitdb-*")) == shards
    np.testing.assert_array_equal(a.windows, b.windows)
    load_beats(MITDB, ["101", "100"], cfg, cache)  # another list of the same records: the shards are reused
    load_beats(MITDB, ["100"], cfg, cache)
    assert set(cache.glob("mitdb-*")) == shards
    load_beats(MITDB, ["100", "101"], PreprocessConfig(lowpass_hz=35.0), cache)
    assert len(set(cache.glob("mitdb-*")) - shards) == 2


@pytest.mark.physionet
def test_damaged_cache_file_is_rebuilt(tmp_path):
    cfg = PreprocessConfig()
    a = load_beats(MITDB, ["100"], cfg, tmp_path)
    (f,) = tmp_path.glob("mitdb-100-*/windows.npy")
    f.write_bytes(f.read_bytes()[:1000])
    b = load_beats(MITDB, ["100"], cfg, tmp_path)
    np.testing.assert_array_equal(a.windows, b.windows)
    assert not list(tmp_path.glob(".mitdb-*"))  # no temporary folder left


@pytest.mark.physionet
def test_sharded_array_reads_rows_like_the_concatenated_array(cache):
    ds = load_beats(MITDB, ["100", "101", "103"], PreprocessConfig(), cache, margin=4, mmap=True)
    assert isinstance(ds.windows, ShardedArray) and isinstance(ds.windows.parts[0], np.memmap)
    full = np.asarray(ds.windows)
    assert ds.windows.shape == full.shape and ds.windows.nbytes == full.nbytes
    idx = np.random.default_rng(0).integers(0, len(full), 500)
    np.testing.assert_array_equal(ds.windows[idx], full[idx])
    np.testing.assert_array_equal(ds.windows[10:20], full[10:20])
    np.testing.assert_array_equal(ds.windows[-1], full[-1])
    np.testing.assert_array_equal(np.asarray(ds.centered()), full[..., 4:-4])
    assert ds.centered().min() == full[..., 4:-4].min()
    sub = ds.subset(["101"])
    assert isinstance(sub.windows, ShardedArray) and len(sub.windows.parts) == 1
    np.testing.assert_array_equal(np.asarray(sub.windows), full[ds.record == "101"])


@pytest.mark.physionet
def test_processes_building_the_same_shards_at_once_agree(tmp_path):
    """torchrun ranks on a cold cache all build the same shards: each finishes, none is left half-written."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np; from pathlib import Path; from ecgmtl.data.mitdb import load_beats; "
        "from ecgmtl.signal.preprocess import PreprocessConfig; "
        "ds = load_beats(Path(sys.argv[1]), ['100', '101', '103'], PreprocessConfig(), Path(sys.argv[2])); "
        "print(float(np.asarray(ds.windows).sum()))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(MITDB), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    assert len({o.strip() for o, _ in outs}) == 1
    assert len(list(tmp_path.glob("mitdb-*"))) == 3 and not list(tmp_path.glob(".mitdb-*"))
    ref = load_beats(MITDB, ["100", "101", "103"], PreprocessConfig(), None)
    assert float(np.asarray(ref.windows).sum()) == float(outs[0][0])
