# Quick start: `make demo` and `make test`. Both bootstrap .venv from this project's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ADAS_DATA_DIR ?= ../shared/data
export ADAS_DATA_DIR

.PHONY: venv test test-fpga lint demo bench clean

$(BIN)/adas: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cluster,can]'
	touch $(BIN)/adas

venv: $(BIN)/adas

# pynq pins numpy < 2, so the driver tests (tests/fpga_board: the PYNQ driver against an emulated
# board running the C-simulated kernel) run in an environment of their own.
FPGA_VENV ?= .venv-fpga
$(FPGA_VENV)/bin/pytest: pyproject.toml
	$(PYTHON) -m venv $(FPGA_VENV)
	$(FPGA_VENV)/bin/pip install --quiet --upgrade pip
	$(FPGA_VENV)/bin/pip install --quiet -e '.[fpga]' 'pytest>=8'
	touch $@

test-fpga: $(FPGA_VENV)/bin/pytest
	$(FPGA_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/fpga_board

lint: venv
	$(BIN)/ruff check adas calibration fpga tests tools
	$(BIN)/ruff format --check adas calibration fpga tests tools
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layers of docs/architecture.md ([tool.importlinter] in pyproject.toml)

test: lint
	$(BIN)/pytest -q
	$(MAKE) test-fpga

# The demo reads the shared data folder when it is there; otherwise it downloads the public
# files it needs (official URLs, sha256-checked: tools/data_manifest.json) into build/data.
DEMO_DATA := $(if $(wildcard $(ADAS_DATA_DIR)/video/udacity/test_video.mp4),$(ADAS_DATA_DIR),build/data)
DEMO_CLIP := $(DEMO_DATA)/video/udacity/test_video.mp4

demo: venv
	test -f $(DEMO_CLIP) -a -f $(DEMO_DATA)/models/yolox_nano.onnx || $(BIN)/python tools/fetch_data.py --dest $(DEMO_DATA) --only udacity,models,kitti-tracking,kitti-object
	rm -rf build/demo_drive build/demo_replay
	$(BIN)/python tools/make_bag.py $(DEMO_CLIP) build/demo_drive --encoding jpeg --hfov-deg 60 --speed-mps 25
	ADAS_DATA_DIR=$(DEMO_DATA) $(BIN)/adas replay build/demo_drive --out build/demo_replay --full-video
	$(BIN)/python -c "import cv2; c = cv2.VideoCapture('build/demo_replay/annotated.mp4'); c.set(cv2.CAP_PROP_POS_FRAMES, 30); ok, f = c.read(); assert ok; cv2.imwrite('build/demo_replay/annotated_frame.png', f)"
	ADAS_DATA_DIR=$(DEMO_DATA) $(BIN)/adas eval kitti-tracking --root $(DEMO_DATA)/kitti/tracking --json eval_kitti_tracking.json
	ADAS_DATA_DIR=$(DEMO_DATA) $(BIN)/adas eval kitti-object --root $(DEMO_DATA)/kitti/object --json eval_kitti_object.json

bench: venv
	$(BIN)/adas bench chain --json -
	$(BIN)/adas bench preprocess --json -
	$(BIN)/adas bench detect --json -
	$(BIN)/adas bench replay --input $(ADAS_DATA_DIR)/video/udacity/test_video.mp4 --json -

clean:
	rm -rf $(VENV) $(FPGA_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
