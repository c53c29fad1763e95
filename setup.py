"""The package list, which pyproject.toml alone cannot say: the repository keeps cli/ (the command line) and
models/ (the shipped models) at its top level, and they install inside the package as ecgmtl.cli and
ecgmtl.shipped, so that nothing named `cli` lands in site-packages and the default models travel with it."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["ecgmtl", "ecgmtl.*"]), "ecgmtl.cli", "ecgmtl.shipped"],
    package_dir={"ecgmtl.cli": "cli", "ecgmtl.shipped": "models"},
    package_data={"ecgmtl.shipped": ["*.onnx", "*.md", "*.json"]},
)
