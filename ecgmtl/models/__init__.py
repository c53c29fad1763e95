"""Encoders, heads and the multi-task model. Importing this package registers every encoder."""

from .encoders import ENCODERS
from .multitask import ModelConfig, MultiTaskModel, build_model

__all__ = ["ENCODERS", "ModelConfig", "MultiTaskModel", "build_model"]
