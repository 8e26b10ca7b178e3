# Set-up is idempotent: the venv is rebuilt only when the pinned requirements change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# A complete lock: --no-deps installs exactly these versions (litert-torch pins typing-extensions below what
	@# cattrs asks for, so a resolver refuses the set that is known to work together).
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP) system-deps

system-deps:
	@.ci/install-apt.sh

demo: setup
	$(VENV)/bin/edgekit demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/bench_phone.py

clean:
	rm -rf $(VENV) reports build *.egg-info
