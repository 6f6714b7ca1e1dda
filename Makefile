# dicomsec — set-up, tests and demo. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Debian packages of the real peers the tests run against (command: package)
PEERS := dcmsign:dcmtk storescu:dcmtk storescp:dcmtk dciodvfy:dicom3tools openssl:openssl \
	softhsm2-util:softhsm2 pkcs11-tool:opensc chromium:chromium \
	gdcmanon:libgdcm-tools tesseract:tesseract-ocr rsyslogd:rsyslog
# files (not commands) that tell a peer package is there (path glob: package)
PEER_FILES := /usr/lib/*/rsyslog/lmnsd_gtls.so:rsyslog-gnutls

.PHONY: install peers test lint demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q -e '.[dev,ocr,bench,fhir]'
	touch $@

# Install the peer tools with apt-get when running as root and they are missing.
peers:
	@missing=""; for p in $(PEERS); do cmd=$${p%%:*}; pkg=$${p##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	for p in $(PEER_FILES); do glob=$${p%%:*}; pkg=$${p##*:}; \
	  compgen -G "$$glob" >/dev/null || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing peers:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing peers (not root, not installing):$$missing"; fi; \
	fi

lint: install
	$(VENV)/bin/ruff check src tests bench demo
	$(VENV)/bin/mypy

test: install peers lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile --durations=10

demo: install peers
	$(PY) demo/demo.py

bench: install peers
	$(PY) bench/signatures.py
	$(PY) bench/securefile.py
	$(PY) bench/transport.py
	$(PY) bench/startup.py
	$(PY) bench/tlscheck.py
	$(PY) bench/policy.py
	$(PY) bench/deid.py

clean:
	rm -rf $(VENV) demo-out bench-out .mypy_cache .ruff_cache .pytest_cache
