"""Encoders, heads and the multi-task model. Importing this package registers every encoder."""

from ecgmtl.models import unet as _unet  # noqa: F401  (registers unet1d)
from ecgmtl.models.encoders import ENCODERS
from ecgmtl.models.multitask import ModelConfig, MultiTaskModel, build_model

__all__ = ["ENCODERS", "ModelConfig", "MultiTaskModel", "build_model"]
