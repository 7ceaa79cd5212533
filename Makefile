# Pipeboard — the two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PROJECTS = tests/testkit tap-pipedrive target-pipeboard-postgres transform
STAMP   = $(VENV)/.installed

.PHONY: install test-services test demo bench lint format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PROJECTS))
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(addprefix -e ./,$(PROJECTS))
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Debian's Prometheus, promtool and Pushgateway, which the observability tests start (idempotent).
test-services:
	bash scripts/install-test-services.sh

test: install test-services
	$(BIN)/ruff check .
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python scripts/demo.py

# Side-by-side throughput and memory comparisons; not part of `make test`. Figures go in the issue notes.
bench: install .venv-bench-meltanolabs/bin/target-postgres
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_target.py $(BENCH_TARGET_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_tap.py $(BENCH_TAP_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_history.py $(BENCH_HISTORY_ARGS)

# MeltanoLabs' target-postgres in a venv of its own, the peer the target benchmark compares with.
.venv-bench-meltanolabs/bin/target-postgres:
	$(PYTHON) -m venv .venv-bench-meltanolabs
	.venv-bench-meltanolabs/bin/python -m pip install --quiet meltanolabs-target-postgres==0.8.1

clean:
	-[ -x $(BIN)/python ] && $(BIN)/python scripts/demo.py --stop
	rm -rf $(VENV) .meltano .pipeboard .pytest_cache .ruff_cache
