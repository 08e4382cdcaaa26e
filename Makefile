# Trainyard: `make demo` runs the main job on the embedded local workspace, then serves the model it
# registered and scores two rows; `make test` runs the tests.
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
	  $(CURDIR)/$(TY) models list && \
	  $(CURDIR)/$(TY) models deploy sklearn-iris --name iris-demo --force && \
	  echo '{"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}' > rows.json && \
	  echo "predictions for two rows (setosa, virginica expected):" && \
	  { $(CURDIR)/$(TY) services test iris-demo --data rows.json; rc=$$?; \
	    $(CURDIR)/$(TY) services delete iris-demo; exit $$rc; }

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
