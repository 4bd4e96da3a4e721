# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov pins packages the project's venv needs newer: it gets a venv of its own
CHECKOV := $(VENV)/checkov/bin/checkov
DEMO := demo-output

# The images' lock files (docker/requirements-*.lock): every package pinned with its hashes
UV := $(BIN)/uv
LOCK := $(UV) pip compile --quiet --generate-hashes --python-platform x86_64-manylinux_2_28 \
	--custom-compile-command 'make lock'

.PHONY: demo test lint env lock clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $(STAMP)

$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --disable-pip-version-check 'checkov>=3.2'

$(UV): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

env: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/geocolor --quiet demo-data -o $(DEMO)/data
	$(BIN)/geocolor --quiet prepare --s1 '$(DEMO)/data/S1*.SAFE' --s2 '$(DEMO)/data/S2*.SAFE' \
		-o $(DEMO)/pairs.zarr --tile-size 128 --split-block 2
	cd $(DEMO) && $(abspath $(BIN))/geocolor --quiet train pairs.zarr --epochs 2 \
		--steps-per-epoch 10 --batch-size 4 --tile-size 64 --num-workers 0 \
		-O ngf=16 -O n_blocks=2 -O ndf=16 --promote-if-better prod-candidate
	cd $(DEMO) && $(abspath $(BIN))/geocolor --quiet colorize data/S1*.SAFE \
		--model models:/geocolor/1 --aoi data/aoi.geojson -o colorized.tif
	@echo $(abspath $(DEMO)/colorized.tif)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHECKOV)
	$(BIN)/python -m pytest

# Python 3.11 in the python:3.11 images, Ubuntu 24.04's 3.12 in the training image. The
# app's CPU torch comes from PyTorch's own index, the rest from PyPI.
lock: $(UV)
	$(LOCK) --python-version 3.11 docker/requirements-mlflow.in -o docker/requirements-mlflow.lock
	$(LOCK) --python-version 3.12 setup.cfg docker/requirements-build.in docker/requirements-train.in \
		-o docker/requirements-train.lock
	$(LOCK) --python-version 3.11 setup.cfg docker/requirements-app.in \
		--excludes docker/app-excludes.txt -o docker/requirements-app.lock
	$(LOCK) --python-version 3.11 --no-deps --index-url https://download.pytorch.org/whl/cpu \
		docker/requirements-app-torch.in -o docker/requirements-app-torch.lock

clean:
	rm -rf $(VENV) $(DEMO) .mypy_cache .ruff_cache .pytest_cache
