# The project's front door: `make help` lists the targets. Every target that needs Python
# creates .venv from the pinned requirements first when it is missing or out of date.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# Long quiet steps print a line every few seconds when output is not a terminal (scripts/tick.sh).
TICK = $(CURDIR)/scripts/tick.sh
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# Stage commands call `python`; this puts the project's environment first on the PATH.
RUN := PATH="$(BIN):$$PATH"

# DVC remote kinds whose plugin is chosen at install time (requirements-<kind>.txt). The s3
# plugin is always installed: the tests push to an S3-compatible server.
PLUGIN_KINDS := gs ssh
# REMOTE names remote kinds (REMOTE=gs, REMOTE="gs ssh") or a remote's URL (REMOTE=ssh://host/path);
# a local folder (anything with a / but no scheme) needs no plugin.
REMOTE ?=
remote_kind = $(if $(findstring ://,$(1)),$(firstword $(subst ://, ,$(1))),$(if $(findstring /,$(1)),local,$(1)))
KINDS := $(sort $(foreach r,$(REMOTE),$(call remote_kind,$(r))))
UNKNOWN_KINDS := $(filter-out local s3 http https $(PLUGIN_KINDS),$(KINDS))
# Paths and grids given on the command line reach the scripts through the environment, exactly
# as typed: make expands no `$` in them and no shell command line is built from them.
override PHOTOS := $(value PHOTOS)
override TEST_PHOTOS := $(value TEST_PHOTOS)
override ARGS := $(value ARGS)
override SORT := $(value SORT)
export PHOTOS TEST_PHOTOS ARGS SORT

PLUGIN_STAMPS := $(foreach k,$(filter $(PLUGIN_KINDS),$(KINDS)),$(VENV)/.installed-$(k))

.PHONY: help install check-remote repro check-repro test-fast test sweep compare cross-check plots photos bench clean-venv

help: ## List the targets, one line each
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

install: check-remote $(STAMP) $(PLUGIN_STAMPS) ## Create .venv from the pinned requirements (REMOTE=s3|gs|ssh|<url> adds that remote's plugin)

check-remote:
	@$(if $(UNKNOWN_KINDS),echo "make install: no pinned DVC plugin for REMOTE kind '$(UNKNOWN_KINDS)' (choose from s3 $(PLUGIN_KINDS) or a URL of these or a local folder)" >&2; exit 2,true)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(TICK) install $(PIP) -r requirements.txt
	$(PIP) --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(VENV)/.installed-%: requirements-%.txt $(STAMP)
	$(TICK) install $(PIP) -r requirements.txt -r $<
	touch $@

repro: $(STAMP) ## Run the pipeline (dvc repro)
	$(RUN) $(TICK) repro dvc repro

# What CI runs: the committed dvc.lock must be current before, and reproduced bit for bit after.
# --force: every stage really runs, never restored from outputs or a run cache pulled before.
check-repro: $(STAMP) ## Reproduce the pipeline and fail unless dvc.lock and metrics/ equal the committed ones
	$(RUN) python -m catdog check-lock --current
	$(RUN) $(TICK) repro dvc repro --force
	$(RUN) python -m catdog check-lock --reproduced

test-fast: $(STAMP) ## Run the fast tier (no real dvc runs, nothing that waits many seconds): under a minute
	$(RUN) python -m pytest -m "not pipeline" -q

test: $(STAMP) ## Run the whole test suite, the slow tier (pytest -m pipeline) included
	$(RUN) $(TICK) test python -m pytest

# For example: make sweep ARGS="--part 1/2 -S train.hidden_size=5,10,20 -S train.learning_rate=0.01,0.1"
# ARGS reaches the script through the environment and is split into words at spaces, nothing
# else: no `$`, quote, `;` or pattern in it is ever run or expanded.
sweep: $(STAMP) ## Run this machine's part of a grid and push it (ARGS: see scripts/sweep.sh)
	set -f; $(RUN) $(TICK) sweep scripts/sweep.sh $$ARGS

compare: $(STAMP) ## The experiments side by side: params that differ, key metrics (SORT=test_log_loss)
	$(RUN) python -m catdog.compare $${SORT:+--sort-by "$$SORT"}

# For example: make cross-check ARGS="--x86 Nehalem --iterations 200" (see scripts/cross_check.sh --help)
cross-check: $(STAMP) ## Compare the stage outputs on emulated aarch64 with this machine (ARGS: see scripts/cross_check.sh --help)
	set -f; scripts/cross_check.sh $$ARGS

plots: $(STAMP) ## Write dvc_plots/: the plots as a page that needs no network, and as SVG images
	$(RUN) $(TICK) plots python -m catdog plots

# The recommended settings for real photos, chosen by a sweep on validation accuracy
# (docs/experiments.md, "A model for real photos"); benchmarks/train_recipe.py reads them from here.
PHOTOS_RECIPE := data.image_size=32 train.hidden_size=192 train.batch_size=256 \
	train.optimizer=adam train.learning_rate=0.001 train.lr_schedule=cosine train.iterations=60 \
	train.weight_decay=0.003 train.init=xavier train.input_scaling=standardize \
	train.augment_flip=true train.augment_shift=3 train.validation_fraction=0.1 \
	train.eval_every=1 train.cost_every=1

# make photos PHOTOS=<folder> [TEST_PHOTOS=<folder>]: the pipeline on those photos with the
# recommended settings, as a DVC experiment (`dvc exp show` lists what differs from params.yaml).
# Without TEST_PHOTOS a seeded split of PHOTOS (data.test_fraction) is the test set.
# The paths reach scripts/photos.py through the environment, as written (make expands no `$`
# in them, and no shell reads them), whatever characters they hold.
photos: $(STAMP) ## Train the recommended recipe on PHOTOS=<folder> [TEST_PHOTOS=<folder>] as a DVC experiment
	$(RUN) $(TICK) photos python scripts/photos.py $(PHOTOS_RECIPE)

# Benchmarks take several minutes. The ingest one needs a folder of real photos:
# `make bench PHOTOS=path/to/photos` (without PHOTOS it is skipped). Extra options for each
# script: INGEST_BENCH_ARGS, TRAIN_BENCH_ARGS (see the scripts' --help).
INGEST_BENCH_ARGS ?=
TRAIN_BENCH_ARGS ?=
bench: $(STAMP) ## Measure ingest (PHOTOS=folder) and training speed against their baselines
ifeq ($(strip $(PHOTOS)),)
	@echo "bench: ingest benchmark skipped; name a folder of photos: make bench PHOTOS=path/to/photos"
else
	@test -d "$$PHOTOS" || { echo "bench: PHOTOS=$$PHOTOS is not a folder" >&2; exit 1; }
	$(RUN) $(TICK) bench python benchmarks/ingest_speed.py "$$PHOTOS" $(INGEST_BENCH_ARGS)
endif
	$(RUN) $(TICK) bench python benchmarks/train_speed.py $(TRAIN_BENCH_ARGS)

clean-venv: ## Remove .venv
	rm -rf $(VENV)
