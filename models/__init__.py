"""The shipped models, each an ONNX file with its card (.md) and its evaluation (.eval.json); installed as
ecgmtl.shipped. Found by ecgmtl.deploy.models."""
