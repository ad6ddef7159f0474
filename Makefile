# Two commands on a fresh machine (Python 3.11+, git, make): `make repro` and `make test`.
# Both create .venv with the locked dependency set on first use and reuse it afterwards.

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
# The bundled model and local data need no network; run with HF_HUB_OFFLINE=0 to use the Hub.
export HF_HUB_OFFLINE ?= 1

.PHONY: repro test pull report lock sample-data clean-venv

# Bytecode is compiled once, on every core (pip compiles on one core: half the install, BENCHMARKS.md), and at
# install, not at import: where PYTHONDONTWRITEBYTECODE is set, as on this project's machines, imports never
# write it and every process would compile torch again. Files only a newer Python parses (pip skips them too)
# make compileall exit with 1.
$(INSTALLED): requirements.lock pyproject.toml
	python3 -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile --no-deps -e .
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $(INSTALLED)

repro: $(INSTALLED)
	dvc repro

# Lint and format first (seconds; configured in pyproject.toml), then the tests.
test: $(INSTALLED)
	ruff check .
	ruff format --check .
	python -m pytest

# A teammate's data, models and run cache from the default remote (.dvc/config), without retraining.
pull: $(INSTALLED)
	dvc pull --run-cache

# A pull request's report: metrics, params and plots of the working tree vs BASE, into report/report.md.
BASE ?= main
report: $(INSTALLED)
	reproqa report --base $(BASE) --out report

# Rewrites data/raw/app_inventory.jsonl and data/benchmark/ (a test checks they match byte for byte).
sample-data: $(INSTALLED)
	python -m reproqa.sample_data

# After editing pyproject.toml: resolve again in a scratch venv and pin everything.
lock:
	rm -rf /tmp/reproqa-lock && python3 -m venv /tmp/reproqa-lock
	/tmp/reproqa-lock/bin/pip install --quiet -e '.[dev]'
	{ sed -n '1,3p' requirements.lock; /tmp/reproqa-lock/bin/pip freeze --exclude-editable \
	  | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.lock.new && mv requirements.lock.new requirements.lock

clean-venv:
	rm -rf $(VENV)
