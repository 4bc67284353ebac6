# Two commands on a fresh machine with python3, pip and a C compiler:
#   make run    set up .venv and run the default sweep (pixel vs GIST) on the embedded dataset
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# requirements.lock: exact pins of what the harness needs to run; requirements-dev.lock: the same
# pins plus every extra (Dask, submitit, Ray, Optuna, PostgreSQL driver) and the test tools
STAMP     := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp

.PHONY: setup setup-dev run test ui clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(STAMP): pyproject.toml requirements.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml requirements-dev.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(DEV_STAMP) $(STAMP)

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/python run.py -m features=pixel,gist

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db

clean:
	rm -rf outputs .cache mlflow.db mlartifacts
