# Trainyard: `make demo` runs the main job on the embedded local workspace; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TY := $(VENV)/bin/trainyard

.PHONY: install demo test quick lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,infra]'
	touch $@

demo: install
	@d=$$(mktemp -d -t trainyard-demo.XXXXXX) && echo "demo workspace: $$d" && \
	  $(PY) -m scripts.scaffold iris-svm -o $$d/iris-svm && \
	  cd $$d && $(CURDIR)/$(PY) $(CURDIR)/scripts/submit.py iris-svm/job.yml && \
	  $(CURDIR)/$(TY) models list

lint: install
	$(VENV)/bin/ruff check trainyard trainers scripts tests benchmarks infra templates
	$(VENV)/bin/lint-imports

test: install lint
	$(PY) -m pytest -q

quick: install lint
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) benchmarks/local_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
