# Quick start: `make demo` and `make test`. Both bootstrap .venv from this project's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADAS_DATA_DIR ?= ../shared/data
export ADAS_DATA_DIR

.PHONY: venv test lint demo bench clean

$(BIN)/adas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cluster]'
	touch $(BIN)/adas

venv: $(BIN)/adas

lint: venv
	$(BIN)/ruff check adas calibration fpga tests tools
	$(BIN)/ruff format --check adas calibration fpga tests tools
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

demo: venv
	rm -rf build/demo_drive build/demo_replay
	$(BIN)/python tools/make_bag.py $(ADAS_DATA_DIR)/video/udacity/test_video.mp4 build/demo_drive --encoding jpeg --hfov-deg 60 --speed-mps 25
	$(BIN)/adas replay build/demo_drive --out build/demo_replay
	$(BIN)/adas eval kitti-tracking --root $(ADAS_DATA_DIR)/kitti/tracking --json eval_kitti_tracking.json
	$(BIN)/adas eval kitti-object --root $(ADAS_DATA_DIR)/kitti/object --json eval_kitti_object.json

bench: venv
	$(BIN)/adas bench chain --json
	$(BIN)/adas bench preprocess --json
	$(BIN)/adas bench detect --json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
