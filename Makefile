# The two commands a user needs: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chemtrace run scenarios/library/baseline.toml

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis

# The simulated world against the signature floor, then the live MQTT cluster (4 and 7 nations
# through a private Mosquitto, the recovery time after SIGKILL, restart with a big ledger), then
# consensus beside the peer simulator (PEER=/path/to/BFT-Simulator; without it, chemtrace alone
# and how to get the peer), then the global day (193 nations, a million transactions: minutes
# and about 3 GiB), then issue 19's targets against all of it (runs/targets.md). Reports; never
# gates CI.
bench: $(STAMP)
	$(BIN)/chemtrace bench --json-file runs/bench.json
	PATH="$$PATH:/usr/sbin" $(BIN)/chemtrace bench-live --json-file runs/bench-live.json
	$(BIN)/python scripts/peer_bench.py $(if $(PEER),--peer $(PEER)) --json runs/peer-bench.json
	$(BIN)/chemtrace bench-global-day --json-file runs/global-day.json
	$(BIN)/chemtrace bench-targets --runs runs --out runs/targets.md

# The nightly fuzzing profile: 600 s of generated scenarios of 4 to 10 nations (the ci profile
# runs inside `make test`, tests/scenarios/test_fuzz.py). Exits 1 with runs/fuzz/counterexample.toml on a
# failure; runs/fuzz/junit.xml is for the CI server.
fuzz: $(STAMP)
	$(BIN)/chemtrace fuzz --profile nightly --out runs/fuzz --junit runs/fuzz/junit.xml
