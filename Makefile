# The two commands of the README. Both build .venv themselves, so a fresh machine needs only python3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo_data

.PHONY: demo test install install-test clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/python -m flywheel.demo --out $(DEMO_OUT)

# scripts/install_chromium.sh: Debian's chromium for the report's browser tests where apt-get and root are there;
# elsewhere it says so and those tests skip.
test: install-test
	@sh scripts/install_chromium.sh
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
