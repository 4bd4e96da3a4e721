# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov pins packages the project's venv needs newer: it gets a venv of its own
CHECKOV := $(VENV)/checkov/bin/checkov
# local copies of the web libraries the map page loads from CDNs, for browser tests
BROWSER_LIBS := tests/browser/node_modules/.package-lock.json
DEMO := demo-output

.PHONY: demo test lint env clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $(STAMP)

$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet --disable-pip-version-check 'checkov>=3.2'

$(BROWSER_LIBS): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

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
		--model models:/geocolor@prod-candidate --aoi data/aoi.geojson -o colorized.tif
	@echo $(abspath $(DEMO)/colorized.tif)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHECKOV) $(BROWSER_LIBS)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO) .mypy_cache .ruff_cache .pytest_cache
