# The README's two commands: `make demo` and `make test`. Both create .venv/ on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mocobench-installed
DEMO_OUT ?= runs/demo

.PHONY: venv demo test lint clean-demo

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mocobench needs Python >= 3.10")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Pre-train MoCo v2 (Table 1 row d) at smoke scale on the embedded dataset, then say where the run went.
demo: venv
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/mocobench pretrain --recipe mlp+aug+cos --scale smoke --out $(DEMO_OUT)
	@echo "Run folder: $(DEMO_OUT) (config.json, env.json, metrics.jsonl, checkpoint_last.pth.tar, summary.json)"

test: venv
	$(PY) -m pytest -n 2 --dist loadfile -q

lint: venv
	$(VENV)/bin/ruff check mocobench tests
	$(VENV)/bin/ruff format --check mocobench tests

clean-demo:
	rm -rf $(DEMO_OUT)
