# One command each: set up, run the main job, test. See README.md.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DATE ?= $(shell date -u +%F)
VENV := .venv/bin

.PHONY: setup demo test dev bench-generation

setup:
	bash scripts/setup.sh

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

demo: $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/python -m correctly_assets.demo --date $(DATE)

test:
	$(VENV)/python -m pytest -q

dev: $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/dagster dev -m correctly_assets.definitions

bench-generation:
	$(VENV)/python benchmarks/generation.py
