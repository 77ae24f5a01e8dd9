# The project's front door: `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv from the pinned requirements first when it is missing or out of date.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# Stage commands call `python`; this puts the project's environment first on the PATH.
RUN := PATH="$(BIN):$$PATH"

.PHONY: install repro test bench clean-venv

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

repro: $(STAMP)
	$(RUN) dvc repro

test: $(STAMP)
	$(RUN) python -m pytest

# Benchmarks need ../shared/data/dogs-vs-cats-2k (ingest) and several minutes (training).
bench: $(STAMP)
	$(RUN) python benchmarks/ingest_speed.py
	$(RUN) python benchmarks/train_speed.py

clean-venv:
	rm -rf $(VENV)
