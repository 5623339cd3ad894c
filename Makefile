# vlm4d-tasks: every target does its own setup.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
# pytest-xdist is not used: the lmms-eval end-to-end tests already use both cores.
PYTEST_ARGS ?=

.PHONY: install test demo lint clean

install: $(STAMP)

# Re-installs only when the packaging files change.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[lmms,dev]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/python -m vlm4d_tasks.demo --out $(DEMO_OUT)

lint: install
	$(BIN)/ruff check vlm4d_tasks tests bench
	$(BIN)/ruff format --check vlm4d_tasks tests bench

clean:
	rm -rf $(VENV) $(DEMO_OUT) build dist *.egg-info
