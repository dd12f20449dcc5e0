# cortex-s2i's own tasks. `make demo` and `make test` do all set-up themselves: Node dependencies,
# the compiled CLI, a Docker engine, the Python base image and the builder images.

SHELL := /bin/bash
CLI := node bin/cortex-s2i.js
TS_SOURCES := $(shell find lib test -name '*.ts' 2>/dev/null) tsconfig.json $(wildcard lib/render/templates/*)

.PHONY: help setup engine base builders demo test test-unit test-python clean

help:
	@echo "make demo   build, train, serve and query the example project's three models"
	@echo "make test   run every test: unit (TypeScript, Python) and integration (real Docker engine)"
	@echo "make setup | engine | base | builders | clean"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.installed $(TS_SOURCES)
	npx tsc -p tsconfig.json
	@touch $@

setup: dist/.built

engine:
	bash scripts/engine.sh

base: engine
	bash scripts/base-image.sh

builders: setup base
	$(CLI) builders

demo: builders
	bash scripts/demo.sh

test-python:
	PYTHONPATH=run/runtime python3 -m unittest discover -s run/runtime/tests -t run/runtime

test-unit: setup test-python
	npm run --silent test:unit

# The integration suite needs the engine and the builders; it never skips itself under CI=true.
test: builders test-python
	npm run --silent test

clean:
	rm -rf dist
