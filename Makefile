# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO := demo-output

.PHONY: demo test lint env clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/geocolor --quiet demo-data -o $(DEMO)/data
	$(BIN)/geocolor --quiet prepare --s1 '$(DEMO)/data/S1*.SAFE' --s2 '$(DEMO)/data/S2*.SAFE' \
		-o $(DEMO)/pairs.zarr --tile-size 128 --split-block 2
	cd $(DEMO) && $(abspath $(BIN))/geocolor --quiet train pairs.zarr --epochs 2 \
		--steps-per-epoch 10 --batch-size 4 --tile-size 64 --num-workers 0 \
		-O ngf=16 -O n_blocks=2 -O ndf=16
	$(BIN)/geocolor --quiet process-s1 $(DEMO)/data/S1*.SAFE -o $(DEMO)/s1_sigma0_db.tif
	@echo $(abspath $(DEMO)/s1_sigma0_db.tif)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO) .mypy_cache .ruff_cache .pytest_cache
