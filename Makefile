# The README's two commands: `make demo` and `make test`. Both create .venv/ on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mocobench-installed
DEMO_OUT ?= runs/demo
# Detectron2, the detection engine: upstream Detectron2's code as PyPI's sal-detectron2 wheel. It is tagged
# CPython 3.10 only, so it is installed with --target into the venv; its compiled _C does not load on newer
# Pythons and Faster R-CNN R50-C4 does not need it. DETECTRON2=keep uses a Detectron2 you built yourself.
DETECTRON2 ?= pypi
DETECTRON2_WHEEL ?= sal-detectron2==0.7.2
# FFCV (the .beton loader) compiles against OpenCV and libjpeg-turbo: as root with apt, the set-up installs
# them; elsewhere it stops and names the command. FFCV=no skips FFCV (`--loader torch` still works).
FFCV ?= yes
APT_PACKAGES := pkg-config libopencv-dev libturbojpeg0-dev
ifeq ($(FFCV),yes)
EXTRAS := dev,detection,ffcv
else
EXTRAS := dev,detection
endif

# Real images for one end-to-end test: Debian's dataset-fashion-mnist (Fashion-MNIST, 70,000 product photos,
# MIT) into /usr/share/datasets/fashion-mnist, where apt exists and we are root; elsewhere the test skips
# (under CI=1 it fails instead, so CI cannot pass without them).
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist

.PHONY: venv demo test lint clean-demo gpu-check gpu-check-cpu offline-wheels gpu-wheels real-data

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mocobench needs Python >= 3.10")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(FFCV),yes)
	@pkg-config --exists opencv4 libturbojpeg 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing FFCV's build dependencies: $(APT_PACKAGES)"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q $(APT_PACKAGES) >/dev/null || \
				{ apt-get update -q >/dev/null && apt-get install -y -q $(APT_PACKAGES) >/dev/null; }; \
		else \
			echo "FFCV needs: sudo apt-get install $(APT_PACKAGES)  (or run make with FFCV=no)"; exit 2; \
		fi; }
endif
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
ifeq ($(DETECTRON2),pypi)
	$(PY) -m pip install --quiet --no-deps --only-binary=:all: --python-version 3.10 --upgrade \
		--target "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" $(DETECTRON2_WHEEL)
endif
	$(PY) -c 'from mocobench.detection.install import require_detectron2; require_detectron2()'
	touch $(STAMP)

venv: $(STAMP)

# The whole flow at smoke scale on the embedded dataset: pre-train MoCo v1 and MoCo v2 (Table 1 row d),
# score both with the linear protocol, fine-tune a detector from each on the embedded VOC set, and write
# Table 1 with the paper beside it (missing rows show "-").
demo: venv
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/mocobench reproduce table 1 --scale smoke --recipes moco-v1,mlp+aug+cos \
		--runs $(DEMO_OUT) --out $(DEMO_OUT)/tables
	@echo "Runs: $(DEMO_OUT)/smoke/<recipe>/seed0 (config, metrics, checkpoints, linear.json, voc.json, curves.png)"
	@echo "Table: $(DEMO_OUT)/tables/table1_smoke.md (.csv, .png; _knn.png: each row's kNN per epoch)"

real-data:
	@test -f $(FASHION_MNIST)/train-images-idx3-ubyte.gz || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's dataset-fashion-mnist (real Fashion-MNIST for the end-to-end test)"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q dataset-fashion-mnist >/dev/null || \
				{ apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }; \
		else \
			echo "no $(FASHION_MNIST): its end-to-end test will skip (sudo apt-get install dataset-fashion-mnist)"; \
		fi; }

# The lint first (ruff, and the layers contract of pyproject.toml: every import points down), then the suite.
test: lint real-data
	$(PY) -m pytest -n 2 --dist loadfile -q

lint: venv
	$(VENV)/bin/ruff check mocobench tests scripts
	$(VENV)/bin/ruff format --check mocobench tests scripts
	$(VENV)/bin/lint-imports

# The installation check for a GPU machine (docs/gpu-check.md; `mocobench check`): every GPU path as a
# time-capped stage, the report rewritten after each, exit 1 on any failure. It needs no network: on a GPU
# node with no network whose python3 already has torch, the wheels it lacks come from .whl/ (gathered on a
# machine with network by `make offline-wheels`, ~15 MiB, then copied beside the checkout on the node).
GPU_PY ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_CHECK_REPORT ?= tables/gpu-check
GPU_CHECK_ARGS ?=
gpu-check:
	$(GPU_PY) -m mocobench check --device cuda --report $(GPU_CHECK_REPORT) $(GPU_CHECK_ARGS)

# The same stages as a CPU smoke on tiny data (~1.5 min on 2 cores; the test suite runs it too).
gpu-check-cpu: venv
	$(PY) -m mocobench check --device cpu --wheels none --report $(GPU_CHECK_REPORT)-cpu

# The wheels a GPU node with no network lacks, at .venv's versions, into .whl/ (run where there is network).
offline-wheels: venv
	$(PY) -m mocobench check --fetch-wheels .whl

gpu-wheels: offline-wheels

clean-demo:
	rm -rf $(DEMO_OUT)
