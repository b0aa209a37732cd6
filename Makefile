# Customer tiering: `make report` builds the demo report, `make test` runs the tests.
# Both set everything up on a fresh machine: the .venv virtual environment, the
# project with its dev and spark extras, and (through apt, when available and permitted) the
# system packages: Noto CJK fonts, poppler-utils (tests), HarfBuzz subsetting (PDF),
# LibreOffice Impress (the slide deck's PDF test).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
APT_PACKAGES := fonts-noto-cjk poppler-utils libharfbuzz-subset0 openjdk-17-jre-headless libreoffice-impress chromium
PARAMS ?= params/demo.yaml

.DEFAULT_GOAL := help
.PHONY: help setup system-deps report report-zh lint test test-fast benchmark clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) system-deps ## create .venv, install the project and the system packages

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,spark,value,analyst]'
	@touch $(STAMP)

system-deps: ## install fonts-noto-cjk, poppler-utils, libharfbuzz-subset0, Java 17 (Spark), libreoffice-impress and chromium via apt when missing
	@missing=""; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	command -v soffice >/dev/null 2>&1 || missing="$$missing libreoffice-impress"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo -n"; \
	  echo "Installing system packages:$$missing"; \
	  $$SUDO apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "WARNING: apt-get could not install:$$missing"; \
	  fc-cache -f >/dev/null 2>&1 || true; \
	else \
	  echo "WARNING: missing system packages:$$missing"; \
	  echo "  Install them with your package manager, e.g.: sudo apt-get install$$missing"; \
	  echo "  Without fonts-noto-cjk, Chinese reports fall back to another font (may show boxes);"; \
	  echo "  without poppler-utils, the PDF text tests are skipped; without Java, the Spark test is skipped;"; \
	  echo "  without libreoffice-impress (soffice), the slide deck's PDF test is skipped;"; \
	  echo "  without chromium, the HTML report's screenshot test is skipped."; \
	fi

report: setup ## build the demo report into reports/demo (PARAMS=... for another file)
	$(VENV)/bin/tiering report $(PARAMS)

report-zh: setup ## build the demo report in Chinese into reports/demo-zh
	$(VENV)/bin/tiering report $(PARAMS) --set language=zh --output reports/demo-zh

test: setup lint ## run the linter and the whole test suite
	$(PY) -m pytest --durations=15

lint: setup ## ruff check and ruff format --check (configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-fast: setup ## run the tests without the slow end-to-end reports
	$(PY) -m pytest -m "not slow"

benchmark: setup ## time the feature step and whole reports (see BENCHMARKS.md)
	$(PY) benchmarks/run.py

clean: ## remove the reports tiering wrote in reports/ (nothing else there) and caches (keeps .venv)
	@if [ -x $(PY) ]; then $(PY) -m tiering.build.owned clean reports; \
	else echo "no $(PY): reports/ left as it is (run make setup first)"; fi
	rm -rf .pytest_cache .hypothesis .tiering-cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
