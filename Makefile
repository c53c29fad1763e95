# The two commands: `make run` (the main job) and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/demo
RECORD ?= $(or $(ECGMTL_DATA),../shared/physionet)/mitdb/200.dat

.PHONY: install run run-12lead test test-fast lint format check-install clean

$(BIN)/ecgmtl: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/ecgmtl

# Train on MIT-BIH DS1, export to ONNX, evaluate on DS2, predict one DS2 record (annotations unused).
run: install
	rm -rf $(RUN)
	$(BIN)/ecgmtl train --config configs/mitdb.yaml --out $(RUN) --no-progress > /dev/null
	$(BIN)/ecgmtl export $(RUN) --out $(RUN)/model.onnx --name mitdb-resnet1d > /dev/null
	$(BIN)/ecgmtl evaluate --model $(RUN)/model.onnx --split DS2
	$(BIN)/ecgmtl predict $(RECORD) --model $(RUN)/model.onnx

# The 12-lead model: train on PTB-XL folds 1-8 (fold 9 for the checkpoint and thresholds), export, evaluate on
# fold 10 with bootstrap intervals and hidden-lead PRD, predict one record (about 7 min on 2 cores).
RECORD12 ?= $(or $(ECGMTL_DATA),../shared/physionet)/ptbxl/records100/00000/00009_lr.dat
run-12lead: install
	rm -rf $(RUN)-12lead
	$(BIN)/ecgmtl train --config configs/ptbxl.yaml --out $(RUN)-12lead --no-progress > /dev/null
	$(BIN)/ecgmtl export $(RUN)-12lead --out $(RUN)-12lead/model.onnx --name ptbxl-xresnet1d > /dev/null
	$(BIN)/ecgmtl evaluate --model $(RUN)-12lead/model.onnx
	$(BIN)/ecgmtl predict $(RECORD12) --model $(RUN)-12lead/model.onnx

# The whole suite (what CI runs, after the lint and the install check), on TEST_WORKERS processes (pytest-xdist;
# each test file stays on one worker, so its fixtures are built once). TEST_WORKERS=0 runs it in this process.
# Files go out in collection order, the longest first (tests/conftest.py: LONGEST_FIRST), not xdist's order by
# test count. The 15 slowest tests are listed at the end: what to trim when the suite nears its 12-minute bound.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15
test: install
	$(PYTEST)

# The tests that train nothing (closed forms, projections, schedules, shapes, readers, shipped models).
test-fast: install
	$(PYTEST) -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# `pip install .` (not editable) in a fresh virtual environment, then the CLI from a folder outside the checkout.
check-install:
	bash .ci/check_install

clean:
	rm -rf $(VENV) runs .pytest_cache
