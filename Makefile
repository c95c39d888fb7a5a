# custom_pose — two commands for a newcomer:  make install  and  make test
# (every target brings the environment up on first use).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.custom_pose_ready
CONFIG ?= configs/animal/custom_res101_animalpose_256x256.py
PYTEST_ARGS ?=

.PHONY: help install test train data demo clean-venv

help:
	@echo "make install   build/refresh the environment in $(VENV) (torch, mmcv with ops, mmdet, mmpose, custom_pose)"
	@echo "make test      run the test suite (pytest)"
	@echo "make data      generate the synthetic Animal-Pose dataset in data/animalpose_synthetic"
	@echo "make demo      quickstart: data -> train on CPU -> evaluate -> demo video under work_dirs/"
	@echo "make train     python tools/train.py \$$CONFIG (default $(CONFIG))"

install:
	bash tools/setup_env.sh

$(STAMP): tools/setup_env.sh setup.cfg pyproject.toml
	bash tools/setup_env.sh

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

train: $(STAMP)
	$(PY) tools/train.py $(CONFIG)

data: $(STAMP)
	$(PY) tools/make_synthetic_animalpose.py --out-dir data/animalpose_synthetic

demo: $(STAMP)
	$(PY) tools/quickstart.py

clean-venv:
	rm -rf $(VENV)
