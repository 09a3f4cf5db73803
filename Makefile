# Two commands do all set-up on a fresh machine: `make run` starts the app, `make test` runs the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU torch first (a wheel on this machine's disk); the open ranges below then install nothing more of it.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	# spandrel (upscaler models) without its dependencies: they are ours already, except torchvision, which
	# only two non-upscaler architectures import and which breaks beside our torch (see core/upscale/model.py).
	$(BIN)/python -m pip install -q --no-deps "spandrel>=0.4,<0.5"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sdstudio

test: $(STAMP)
	$(BIN)/ruff check sdstudio tests benchmarks
	$(BIN)/ruff format --check sdstudio tests benchmarks
	$(BIN)/lint-imports  # the layers declared in pyproject.toml
	$(BIN)/mypy  # sdstudio/core (pyproject.toml [tool.mypy])
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	for f in benchmarks/[!_]*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
