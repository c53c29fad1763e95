import pytest
from conftest import ROOT

from ecgmtl.config import config_from_dict, config_to_dict, load_config
from ecgmtl.errors import ConfigError


def test_committed_config_loads_and_round_trips():
    cfg = load_config(ROOT / "configs" / "mitdb.yaml")
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_overrides_are_typed():
    cfg = load_config(None, ["train.lr=0.01", "weighting.name=uncertainty", "data.val=[101,106]"])
    assert cfg.train.lr == 0.01 and cfg.weighting.name == "uncertainty" and cfg.data.val == ["101", "106"]


@pytest.mark.parametrize(
    "override,match",
    [
        ("train.lr=fast", "train.lr"),
        ("train.nope=1", "nope"),
        ("nonsense", "key.sub=value"),
        ("schedule.decay=[1", "bad configuration"),
    ],
)
def test_bad_overrides_are_one_line_config_errors(override, match):
    with pytest.raises(ConfigError, match=match) as e:
        load_config(None, [override])
    assert "\n" not in str(e.value)


def test_frozen():
    cfg = load_config()
    from dataclasses import FrozenInstanceError

    with pytest.raises(FrozenInstanceError):
        cfg.train.lr = 1.0
