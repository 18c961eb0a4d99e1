# `make demo` and `make test` create or reuse .venv at the repo root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# torch is pinned first: this machine's pip takes the CPU build from local disk.
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[all,test]'
	@command -v espeak-ng >/dev/null 2>&1 && test -f /usr/share/wordnet/data.noun && test -f /usr/share/locale/de/LC_MESSAGES/krita.mo || (command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && apt-get install -y -qq espeak-ng wordnet-base krita-l10n cinnamon-l10n gnupg-l10n >/dev/null) || echo "warning: espeak-ng/wordnet-base/*-l10n missing; install them (apt-get install espeak-ng wordnet-base krita-l10n cinnamon-l10n gnupg-l10n) for speech data and the NLP corpora")
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(PY) bench/save_restore.py --params 5e7

clean-venv:
	rm -rf $(VENV)
