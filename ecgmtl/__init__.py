"""ecgmtl: multi-task ECG models (reconstruction + classification) from PhysioNet data to ONNX."""

__version__ = "0.1.0"
