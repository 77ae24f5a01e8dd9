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

# Benchmarks take several minutes. The ingest one needs a folder of real photos:
# `make bench PHOTOS=path/to/photos` (without PHOTOS it is skipped). Extra options for each
# script: INGEST_BENCH_ARGS, TRAIN_BENCH_ARGS (see the scripts' --help).
PHOTOS ?=
INGEST_BENCH_ARGS ?=
TRAIN_BENCH_ARGS ?=
bench: $(STAMP)
ifeq ($(strip $(PHOTOS)),)
	@echo "bench: ingest benchmark skipped; name a folder of photos: make bench PHOTOS=path/to/photos"
else
	@test -d "$(PHOTOS)" || { echo "bench: PHOTOS=$(PHOTOS) is not a folder" >&2; exit 1; }
	$(RUN) python benchmarks/ingest_speed.py "$(PHOTOS)" $(INGEST_BENCH_ARGS)
endif
	$(RUN) python benchmarks/train_speed.py $(TRAIN_BENCH_ARGS)

clean-venv:
	rm -rf $(VENV)
