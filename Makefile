# Sealpost. `make run` starts it locally; `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# `make package` builds with the runtime packages and Chalice only, not the test tool chain.
PACKAGE_VENV := .venv-package
PACKAGE_STAMP := $(PACKAGE_VENV)/.installed
# checkov pins its own boto3 and friends: its own environment, so they never move the app's.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
STACK ?= sealpost
# Debian packages the tests need (the browser for the page tests; CPython's and enmime's test mail for
# the gateway's mail corpus, tests/gateway/mail_corpus.py).
APT_PACKAGES := chromium libpython3.11-testsuite golang-github-jhillyerd-enmime-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast bench lint mail send-mail package system-packages clean audit admin

$(VENV_STAMP): requirements.txt requirements-package.txt requirements-dev.txt pyproject.toml
	@echo "Installing Python packages into $(VENV) (the first time takes a few minutes)…"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(PACKAGE_STAMP): requirements.txt requirements-package.txt
	test -x $(PACKAGE_VENV)/bin/python || $(PYTHON) -m venv $(PACKAGE_VENV)
	$(PACKAGE_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-package.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

## Start Sealpost on http://127.0.0.1:8000 against a local moto server (Ctrl-C stops all).
run: $(VENV_STAMP)
	$(BIN)/python -m devtools.run_local

## Run the whole test suite (installs the venv, npm test peers and Debian packages first).
test: $(VENV_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP) system-packages
	$(BIN)/python -m pytest

## The inner loop: every test but the real browser, `make run`, `make bench`, cfn-lint, checkov and mypy.
test-fast: $(VENV_STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

## Speed and KMS-call benchmarks, printed as a table.
bench: $(VENV_STAMP)
	$(BIN)/python -m devtools.bench

## ruff and mypy (also run by the tests).
lint: $(VENV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Print the mail a running `make run` has sent.
mail: $(VENV_STAMP)
	$(BIN)/python -m devtools.mail

## Hand a mail to the gateway of a running `make run`: make send-mail TO=a@clinic.example [CC=.. SUBJECT=.. BODY=.. ATTACH=file]
# (CC only when given: make's own CC=cc is not a recipient.)
send-mail: $(VENV_STAMP)
	$(BIN)/python -m devtools.send_mail --to "$(TO)" $(if $(filter command line environment,$(origin CC)),--cc "$(CC)") $(if $(FROM),--from "$(FROM)") \
	  $(if $(SUBJECT),--subject "$(SUBJECT)") $(if $(BODY),--body "$(BODY)") $(if $(ATTACH),--attach "$(ATTACH)")

## The deployable CloudFormation template (Chalice's SAM template merged with infra/template.yaml),
## for the stack to deploy: make package STACK=sealpost-prod (the name is checked first).
package:
	@$(PYTHON) -m devtools.stack_name "$(STACK)"
	@$(MAKE) --no-print-directory $(PACKAGE_STAMP)
	rm -rf build/package
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(PACKAGE_VENV)/bin/chalice package --stage $${STAGE:-prod} \
	  --merge-template infra/template.yaml build/package
	@echo "Template and code in build/package; deploy them as the stack $(STACK) (README, Deploying, step 4)."

## Review the audit trail of a running `make run`, e.g. make audit ARGS='search --event signin.failed'.
audit: $(VENV_STAMP)
	AWS_ENDPOINT_URL=http://127.0.0.1:$${MOTO_PORT:-5000} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
	  AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	  SEALPOST_AUDIT_BUCKET=sealpost-local-audit-123456789012-us-east-1 \
	  SEALPOST_AUDIT_SIGNING_KEY_ARN=alias/sealpost-local-audit-signing SEALPOST_KMS_KEY_ARN=alias/sealpost-local-data \
	  $(BIN)/sealpost-audit $(ARGS)

## The plan's own accounts of a running `make run`, e.g. make admin ARGS='create-associate bo@plan.example --print-link'.
admin: $(VENV_STAMP)
	AWS_ENDPOINT_URL=http://127.0.0.1:$${MOTO_PORT:-5000} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
	  AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	  $(BIN)/sealpost-admin --env-file .local/env.json $(ARGS)

clean:
	rm -rf $(VENV) $(PACKAGE_VENV) $(CHECKOV_VENV) node_modules build .pytest_cache .mypy_cache .ruff_cache
