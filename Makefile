# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --constraint constraints.txt
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	$(PIP) --no-deps torchattacks==3.5.1
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mathguard demo --out mathguard-report

# Two pytest workers on two cores: OpenMP threads that spin while they wait steal the other worker's
# core (attacks 1.2-9x slower than with PASSIVE on busy cores, #28). The demo runs alone: OpenMP as set.
test: export OMP_WAIT_POLICY ?= PASSIVE
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) mathguard-report
