# Pipeboard — the two commands a user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PROJECTS = tests/testkit tap-pipedrive target-pipeboard-postgres transform
STAMP   = $(VENV)/.installed
# dbt in a virtualenv of its own: its pins conflict with the plugins' (python-dateutil<3); tests run it from here.
DBT_VENV ?= .venv-dbt
DBT_STAMP = $(DBT_VENV)/.installed

.PHONY: install test-services test fuzz demo bench campaign lint format clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Each project is installed editable; setuptools says so once per project ("Editable installation… folders with
# the same name as your package may take precedence"): true of any editable install, nothing to act on, so that
# one notice is filtered out (every other warning still shows).
$(STAMP): $(BIN)/python constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PROJECTS))
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" \
	  $(BIN)/python -m pip install --quiet -c constraints.txt -r requirements-dev.txt $(addprefix -e ./,$(PROJECTS))
	touch $(STAMP)

$(DBT_STAMP): transform/constraints.txt transform/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	[ -x $(DBT_VENV)/bin/python ] || $(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DBT_VENV)/bin/python -m pip install --quiet -c transform/constraints.txt -e './transform[dbt]'
	touch $(DBT_STAMP)

install: $(STAMP) $(DBT_STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Debian's Prometheus, promtool and Pushgateway, which the observability tests start (idempotent).
test-services:
	bash scripts/install-test-services.sh

# The suite on TEST_WORKERS processes (pytest-xdist; 0 runs it in this one): a file's tests stay on one worker,
# the ones that run Meltano in the project folder share one (tests/testkit/pipeboard_testkit/plugin.py).
TEST_WORKERS ?= 2
test: install test-services
	$(BIN)/ruff check .
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The target's lanes and load paths compared on many generated inputs (make test runs a few, from a fixed seed):
# FUZZ_EXAMPLES examples from seed FUZZ_SEED (a new one each run unless given; repeat a run with the same seed).
FUZZ_EXAMPLES ?= 300
ifndef FUZZ_SEED
FUZZ_SEED := $(shell date +%s)
endif
fuzz: install
	@echo "make fuzz: $(FUZZ_EXAMPLES) examples, seed $(FUZZ_SEED) (repeat with make fuzz FUZZ_SEED=$(FUZZ_SEED))"
	PIPEBOARD_HYPOTHESIS_PROFILE=fuzz PIPEBOARD_LANES_EXAMPLES=$(FUZZ_EXAMPLES) PATH="$(abspath $(BIN)):$$PATH" \
	  $(BIN)/python -m pytest -p no:logging --hypothesis-seed=$(FUZZ_SEED) --hypothesis-show-statistics \
	  target-pipeboard-postgres/tests/test_lanes_differential.py $(PYTEST_ARGS)

demo: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python scripts/demo.py

# Side-by-side throughput and memory comparisons; not part of `make test`. Figures go in the issue notes.
bench: install .venv-bench-meltanolabs/bin/target-postgres
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_target.py $(BENCH_TARGET_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_target_memory.py $(BENCH_MEMORY_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_tap.py $(BENCH_TAP_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_history.py $(BENCH_HISTORY_ARGS)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_transform.py $(BENCH_TRANSFORM_ARGS)

# SIGTERM at random moments of a load, resumed from the last STATE, over several seeds (make test runs one).
campaign: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/stop_campaign.py $(CAMPAIGN_ARGS)

# MeltanoLabs' target-postgres in a venv of its own, the peer the target benchmark compares with.
.venv-bench-meltanolabs/bin/target-postgres:
	$(PYTHON) -m venv .venv-bench-meltanolabs
	.venv-bench-meltanolabs/bin/python -m pip install --quiet meltanolabs-target-postgres==0.8.1

clean:
	-[ -x $(BIN)/python ] && $(BIN)/python scripts/demo.py --stop
	rm -rf $(VENV) $(DBT_VENV) .meltano .pipeboard .pytest_cache .ruff_cache transform/target transform/logs
