# Set-up is idempotent: the venv is rebuilt only when the pinned requirements change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The emulated Raspberry Pi's own Python environment (tflite-runtime + numpy<2, no torch), as on a Pi image.
VENV_PI := .venv-pi
STAMP_PI := $(VENV_PI)/.installed

.PHONY: setup system-deps arm-image demo test bench zoo clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# A complete lock: --no-deps installs exactly these versions (litert-torch pins typing-extensions below what
	@# cattrs asks for, so a resolver refuses the set that is known to work together).
	$(PY) -m pip install --quiet --no-deps --no-compile -r requirements.txt
	@# pip compiles the bytecode on one core; compileall uses every core (measured here: 36 s + 30 s instead of
	@# 100 s). A few packages ship files that do not compile, which pip skips too: hence the ignored status.
	-$(PY) -m compileall -qq -j 0 $(VENV)/lib > /dev/null 2>&1
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(STAMP_PI): requirements-pi.txt
	test -x $(VENV_PI)/bin/python || $(PYTHON) -m venv $(VENV_PI)
	$(VENV_PI)/bin/python -m pip install --quiet --no-deps -r requirements-pi.txt
	touch $(STAMP_PI)

setup: $(STAMP) $(STAMP_PI) system-deps

system-deps:
	@.ci/install-apt.sh

# The arm64 disk images of the Arm-faithful emulated devices (emu-rpi4/5: images/debian-arm64-pi.toml;
# emu-phone-arm: images/debian-arm64-phone.toml): built once (about 3-5 min each, root), then reused from
# ~/.cache/edgekit/images while their recipe is unchanged.
arm-image: setup
	$(VENV)/bin/edgekit targets prepare emu-rpi4
	$(VENV)/bin/edgekit targets prepare emu-phone-arm

demo: setup arm-image
	$(VENV)/bin/edgekit demo

# The suite waits on emulators and subprocesses about half the time: two workers (pytest-xdist), each taking whole
# files (--dist loadfile), so a file's module fixtures (a compiled model, a booted VM) are built once.
TEST_WORKERS ?= 2
test: setup arm-image
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: setup
	$(PY) bench/bench_phone.py
	$(PY) bench/bench_pi.py
	$(PY) bench/bench_pruning.py
	$(PY) bench/bench_mcu.py
	$(PY) bench/bench_farm.py
	$(PY) bench/bench_zoo.py --matrix docs/zoo.md

# Every zoo model on every target family (bench/results/zoo.json, docs/zoo.md); about an hour on 2 cores.
zoo: setup
	$(PY) bench/bench_zoo.py --matrix docs/zoo.md

clean:
	rm -rf $(VENV) $(VENV_PI) reports build *.egg-info
