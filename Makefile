# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU torch wheel that pip finds on this machine; a CUDA machine may install its own first.
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test install install-test bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/cratedigger

test: install-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n 2 --dist loadfile

bench: install
	$(PY) bench/infer.py

# The Linux desktop bundle (see packaging/README.md); never part of `make test`.
.PHONY: package smoke
package: install
	$(PIP) install -q -e ".[package]"
	PY=$(PY) packaging/linux/build.sh

smoke:
	packaging/smoke.sh dist/cratedigger

clean:
	rm -rf $(VENV) build dist *.egg-info
