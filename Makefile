# cortex-s2i's own tasks. `make demo` and `make test` do all set-up themselves: Node dependencies,
# the compiled CLI, a Docker engine, the Python base image and the builder images.

SHELL := /bin/bash
CLI := node bin/cortex-s2i.js
TS_SOURCES := $(shell find lib test bench -name '*.ts' 2>/dev/null) tsconfig.json $(wildcard lib/render/templates/*)

EXAMPLE := fixtures/finance_income_prediction
EXAMPLE_MODELS := logisticRegression randomForest xgBoost

.PHONY: help setup engine base builders buildah demo test test-unit test-python generated clean bench bench-cli bench-serve registry bench-job lint format

help:
	@echo "make demo   build, train, serve and query the example project's three models"
	@echo "make test   run every test: unit (TypeScript, Python) and integration (real Docker engine)"
	@echo "make setup | engine | base | builders | registry | generated | clean"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.installed $(TS_SOURCES) scripts/bundle.mjs
	npx tsc -p tsconfig.json
	node scripts/bundle.mjs
	@touch $@

setup: dist/.built

engine:
	bash scripts/engine.sh

base: engine
	bash scripts/base-image.sh

builders: setup base
	$(CLI) builders

# Two local registries for the push tests: 127.0.0.1:5301 without auth, 127.0.0.1:5302 with basic
# auth. Starts only what does not answer yet; 'bash scripts/registry.sh --stop' stops what it started.
registry:
	bash scripts/registry.sh

demo: builders
	bash scripts/demo.sh

# The Python runtime's unit tests, by Debian's python3 with the libraries the images have.
test-python:
	bash scripts/python-tests.sh

# Prettier's formatting and ESLint for the TypeScript sources; mypy (strict) and flake8 for the
# Python runtime (builder-image/runtime/pyproject.toml, .flake8). `make format` rewrites the
# TypeScript sources in Prettier's format.
lint: setup
	npx prettier --check --log-level warn .
	npx eslint lib test bench
	bash scripts/mypy.sh
	bash scripts/python-lint.sh

test-unit: setup test-python
	npm run --silent test:unit

# buildah, which the integration suite builds --as-dockerfile contexts with, as daemonless CI does.
buildah:
	bash scripts/buildah.sh

# The integration suite needs the engine and the builders; it never skips itself under CI=true.
test: lint builders buildah registry test-python
	npm run --silent test

# The build benchmark (bench/build/): cortex-s2i against hand-written docker builds of the example
# project, medians of several runs; prints a table and writes bench/results/build.json.
# BENCH_ROWS=a,g BENCH_RUNS=3 measures only the rows named, fewer times.
bench: builders
	node dist/bench/build/main.js

# The CLI's start (bench/cli/): --help, build --dry-run and a rebuild with no change, each as it
# is and with every module imported up front, alternating in one run; prints medians and ratios.
bench-cli: builders
	node dist/bench/cli/main.js

# The serving benchmark (bench/serve.sh): the example's predict image under a bounded wrk load on
# 127.0.0.1, against a bare JSON echo on uvicorn with uvloop and httptools (the limit) and against
# Flask's development server in the same image; the time to /ready and the image's size. Prints
# the ratios to their targets and writes bench/results/serve.json. Installs wrk (Debian) when it
# is missing. BENCH_ROUNDS, BENCH_REQUESTS, BENCH_SERVERS: see bench/serve.sh.
bench-serve: builders
	bash bench/serve.sh

# The batch job splitter's peak memory (bench/job_split_memory.py): `job render` splitting NDJSON
# inputs of 10 MB and 1 GB, generated into a temporary folder and removed afterwards; prints a
# table and writes bench/results/job-split.json. Needs no engine. JOB_SIZES_MB overrides the sizes.
bench-job: setup
	python3 bench/job_split_memory.py $(JOB_SIZES_MB)

# The example project's Makefiles and all/ folder, written again by the generators; a test fails
# when the committed ones differ from what they write.
generated: setup
	for m in $(EXAMPLE_MODELS); do rm -f $(EXAMPLE)/$$m/Makefile; $(CLI) init $(EXAMPLE)/$$m; done
	$(CLI) all $(EXAMPLE)

format: node_modules/.installed
	npx prettier --write --log-level warn .

clean:
	rm -rf dist
