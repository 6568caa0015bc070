# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
VENV ?= .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint install i18n clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## fresh demo city on SQLite under ./var, served on http://127.0.0.1:8000
	$(VENV)/bin/linli demo

test: $(STAMP)  ## lint, types, then the whole suite on SQLite and on PostgreSQL
	VENV=$(VENV) scripts/test

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports  # the architecture's contracts (pyproject.toml, docs/architecture.md)

i18n: $(STAMP)  ## re-extract strings into the catalogues (then translate the new ones)
	PYBABEL=$(VENV)/bin/pybabel scripts/i18n

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
