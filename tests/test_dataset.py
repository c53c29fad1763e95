import numpy as np
import pytest

from conftest import MITDB
from ecgmtl.data.mitdb import CLASSES, DS1, DS2, PACED, load_beats, resolve_records
from ecgmtl.errors import RecordError
from ecgmtl.preprocess import PreprocessConfig

# AAMI counts of the inter-patient split (de Chazal et al. 2004), as every paper reports them.
DS1_COUNTS = {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8}
DS2_COUNTS = {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7}


def test_split_is_inter_patient():
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2) and not set(PACED) & (set(DS1) | set(DS2))
    assert resolve_records(["DS1", "100"]) == DS1 + ["100"]
    with pytest.raises(RecordError):
        resolve_records("DS3")


@pytest.mark.parametrize("split,counts", [(DS1, DS1_COUNTS), (DS2, DS2_COUNTS)])
def test_aami_counts_match_the_literature(split, counts, cache):
    ds = load_beats(MITDB, list(split), PreprocessConfig(), cache)
    assert dict(zip(CLASSES, np.bincount(ds.labels, minlength=5).tolist())) == counts
    assert ds.windows.shape == (sum(counts.values()), 1, PreprocessConfig().window)


def test_cache_is_keyed_by_records_and_preprocessing(cache):
    cfg = PreprocessConfig()
    a = load_beats(MITDB, ["100", "101"], cfg, cache)
    files = set(cache.glob("mitdb-*.npz"))
    b = load_beats(MITDB, ["100", "101"], cfg, cache)
    assert set(cache.glob("mitdb-*.npz")) == files
    np.testing.assert_array_equal(a.windows, b.windows)
    load_beats(MITDB, ["100", "101"], PreprocessConfig(lowpass_hz=35.0), cache)
    load_beats(MITDB, ["100"], cfg, cache)
    assert len(set(cache.glob("mitdb-*.npz")) - files) == 2


def test_damaged_cache_file_is_rebuilt(tmp_path):
    cfg = PreprocessConfig()
    a = load_beats(MITDB, ["100"], cfg, tmp_path)
    (f,) = tmp_path.glob("mitdb-*.npz")
    f.write_bytes(f.read_bytes()[:1000])
    b = load_beats(MITDB, ["100"], cfg, tmp_path)
    np.testing.assert_array_equal(a.windows, b.windows)
