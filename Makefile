# One command each: set up, run the main job, test. See README.md.
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DATE ?= $(shell date -u +%F)
VENV := .venv/bin

.PHONY: setup demo test test-unit test-integration test-ui test-adversarial test-deploy dev serve screenshot bench-generation bench-backfill bench-serving bench-training bench-demo-model bench-preferences bench-batch-cost bench-real-size

setup:
	bash scripts/setup.sh

$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

demo: $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/python -m correctly_assets.cli.demo --date $(DATE)

test:
	$(VENV)/python -m pytest -q

# One tier at a time (markers in pyproject.toml; see correctly_assets_tests/conftest.py).
test-unit test-integration test-ui: test-%:
	$(VENV)/python -m pytest -q -m $*

# Hostile input and faults, across the tiers, each test bounded.
test-adversarial:
	$(VENV)/python -m pytest -q -m adversarial --timeout 120

# The compose deployment built and driven end to end on a real Docker engine (README, "Deployment").
test-deploy:
	bash scripts/test-deploy.sh

dev: $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/dagster dev -m correctly_assets.definitions

bench-generation:
	$(VENV)/python benchmarks/generation.py

bench-backfill:
	$(VENV)/python benchmarks/backfill.py

bench-serving:
	$(VENV)/python benchmarks/serving.py

bench-demo-model:
	$(VENV)/python benchmarks/demo_model.py

bench-preferences:
	$(VENV)/python benchmarks/preferences.py

bench-batch-cost:
	$(VENV)/python benchmarks/batch_cost.py

# gemma-3-1b's shapes, random, through SFT, DPO, registry and serving on this CPU (about 15 min).
bench-real-size:
	$(VENV)/python benchmarks/real_size.py

# On a CUDA machine with a CUDA build of torch (see README, "Benchmarks").
bench-training:
	$(VENV)/python benchmarks/train_throughput.py

# The registry model under an MLflow alias, on loopback: `make serve ALIAS=candidate` serves
# the newest version before the promotion gate has passed one.
ALIAS ?= production
serve:
	$(VENV)/python -m correctly_assets.serving --host 127.0.0.1 --port 8080 --alias $(ALIAS)

# Rewrites docs/asset-lineage.png from the UI test's headless Chromium.
screenshot:
	CORRECTLY_UPDATE_SCREENSHOT=1 $(VENV)/python -m pytest -q correctly_assets_tests/test_dagster_ui.py
