"""The training configuration: frozen dataclasses, one per component, loaded from YAML with
command-line overrides (`--set train.lr=1e-3`), validated by OmegaConf against the dataclass types."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ecgmtl.errors import ConfigError
from ecgmtl.models.multitask import ModelConfig
from ecgmtl.mtl.constraints import ConstraintConfig
from ecgmtl.mtl.schedules import ScheduleConfig
from ecgmtl.signal.preprocess import PreprocessConfig

# Validation records of the beat task: whole DS1 records held out (never DS2), chosen to hold S, V and F beats
# while leaving the S-rich records (118, 201, 207, 209, 223) to training.
DEFAULT_VAL = ["106", "114", "124", "205", "215", "220"]


@dataclass(frozen=True)
class DataConfig:
    """Which keys apply depends on the task: beats (train/val/test/jitter) or twelve_lead (rate, crop_s,
    stride_s, crops_per_epoch, mask_*); see each task's module docstring."""

    data_dir: Optional[str] = None  # folder holding the databases; default: $ECGMTL_DATA or ../shared/physionet
    cache_dir: Optional[str] = None
    train: list[str] = field(default_factory=lambda: ["DS1"])  # records or split names; val records leave it
    val: list[str] = field(default_factory=lambda: list(DEFAULT_VAL))
    test: str = "DS2"
    jitter: int = 4  # random shift of training windows, samples at the model rate
    noise_prob: float = 0.0  # beats: share of training windows given NSTDB noise (the first half of each record)
    noise_snr_db: list[float] = field(default_factory=lambda: [-6.0, 24.0])  # beats: the SNR range drawn from
    s_splice: bool = False  # beats: add an S-majority copy of each training record with S beats (augment/splice.py)
    lead_dropout: float = 0.0  # beats with preprocess.other_lead: share of training windows without the other lead
    artefact_prob: float = 0.3  # restore: share of training segments given a synthetic artefact on top
    rate: int = 100  # twelve_lead: 100 or 500 Hz files
    crop_s: float = 2.5  # twelve_lead: random training crops and test windows of this length
    stride_s: float = 1.25  # twelve_lead: sliding-window stride at validation and test (maximum over windows)
    crops_per_epoch: int = 8  # twelve_lead: random crops drawn per training record per epoch
    mask_prob: float = 0.5  # twelve_lead: fraction of training windows with hidden leads (lead masking)
    mask_max: int = 6  # twelve_lead: up to this many leads hidden in such a window (zeroed in the input, rebuilt)
    mask_fill: str = "mean"  # twelve_lead: a hidden lead's input: "mean" (0 after standardisation) or "regression"
    # Training windows larger than this (MB) stay memory-mapped cache shards, read batch by batch; default:
    # half the memory available when training starts.
    memory_mb: Optional[int] = None


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    class_weight_power: float = 0.5  # class weights (n / n_c) ** power, normalised to mean 1 over beats
    n_fraction: float = 1.0  # fraction of N beats drawn anew each epoch (undersampling the majority)
    ema_decay: float = 0.0  # >0: validation and checkpoints use this moving average of the weights
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; or fp32, bf16 (losses stay fp32), fp64
    compile: bool = False  # torch.compile the model's forward (worth it on a GPU for long runs)
    threads: int = 0  # torch CPU threads; 0 = torch's default
    max_nonfinite: int = 20  # steps in a row with a non-finite loss or gradient before the run stops
    min_free_mb: int = 200  # free disk space the run folder needs before training starts


@dataclass(frozen=True)
class WeightingConfig:
    """name: fixed, uncertainty, dwa, rlw, pcgrad, gradnorm or dbmtl; each takes the arguments it uses."""

    name: str = "fixed"
    weights: dict[str, float] = field(default_factory=lambda: {"classification": 1.0, "reconstruction": 1.0})
    alpha: float = 1.5  # gradnorm: strength of the pull toward equal training rates
    temperature: float = 2.0  # dwa: softmax temperature
    beta: float = 0.9  # dbmtl: moving-average rate of the task gradients
    beta_sigma: float = 0.5  # dbmtl: the rate decays as beta / step**beta_sigma


@dataclass(frozen=True)
class Config:
    name: str = "ecgmtl-model"
    task: str = "beats"  # a name in ecgmtl.tasks.base.TASKS, or `package.module:Class` for a task of your own
    task_options: dict[str, Any] = field(default_factory=dict)  # a task's own settings (--set task_options.k=v)
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    # Output constraints; the default keeps the reconstruction within the amplitude range seen in training.
    constraints: list[ConstraintConfig] = field(default_factory=lambda: [ConstraintConfig()])


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- YAML file <- `key.sub=value` overrides, type-checked. Raises ConfigError in one line."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        layers = [_schema()]
        if path is not None:
            if not os.path.isfile(path):
                raise ConfigError(f"config file {path} does not exist")
            layers.append(OmegaConf.create(_upgrade(OmegaConf.to_container(OmegaConf.load(path)))))
        for o in overrides:
            if "=" not in o:
                raise ConfigError(f"override {o!r} must look like key.sub=value")
        layers.append(OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(OmegaConf.merge(*layers))
    except OmegaConfBaseException as e:
        raise ConfigError(f"bad configuration: {_one_line(e)}") from None
    except Exception as e:  # YAML syntax errors and the like
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"bad configuration file {path}: {_one_line(e)}") from None


def config_from_dict(d: dict[str, Any]) -> Config:
    """Rebuild a Config from its saved dict form (checkpoints, run folders)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_object(OmegaConf.merge(_schema(), _upgrade(d)))
    except OmegaConfBaseException as e:
        raise ConfigError(f"saved configuration does not fit this ecgmtl version: {_one_line(e)}") from None


def _upgrade(d: Any) -> Any:
    """A config written before tasks had names said `data.dataset`; its value is an alias of the task."""
    if isinstance(d, dict) and isinstance(d.get("data"), dict) and "dataset" in d["data"]:
        data = dict(d["data"])
        dataset = data.pop("dataset")
        d = {**d, "data": data}
        d.setdefault("task", dataset)
    return d


def _schema():
    """The typed defaults, writable so that files and overrides merge into them. OmegaConf marks every node of
    a frozen dataclass read-only, and before 2.4 a flag on the root does not reach the nodes below it."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    base = OmegaConf.structured(Config)
    stack = [base]
    while stack:
        node = stack.pop()
        OmegaConf.set_readonly(node, False)
        for key in node.keys() if isinstance(node, DictConfig) else range(len(node)):
            child = node._get_node(key)
            if isinstance(child, (DictConfig, ListConfig)):
                stack.append(child)
    return base


def config_to_dict(cfg: Config) -> dict[str, Any]:
    return asdict(cfg)


def dump_yaml(cfg: Config) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(asdict(cfg)))


def _one_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith(("full_key", "object_type", "reference_type"))]
    full = next((ln for ln in lines if ln.startswith("full_key")), "")
    return " ".join(keep[:1] + ([f"({full})"] if full else []))
