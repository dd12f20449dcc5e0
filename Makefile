# cortex-s2i's own tasks. `make demo` and `make test` do all set-up themselves: Node dependencies,
# the compiled CLI, a Docker engine, the Python base image and the builder images.

SHELL := /bin/bash
CLI := node bin/cortex-s2i.js
TS_SOURCES := $(shell find lib test bench -name '*.ts' 2>/dev/null) tsconfig.json $(wildcard lib/render/templates/*)

EXAMPLE := fixtures/finance_income_prediction
EXAMPLE_MODELS := logisticRegression randomForest xgBoost

.PHONY: help setup engine base builders buildah demo test test-unit test-ts test-python generated clean bench bench-cli bench-serve registry bench-job lint format s3 podman chromium test-parts

help:
	@echo "make demo   build, train, serve and query the example project's three models"
	@echo "make test   run every test: unit (TypeScript, Python) and integration (real Docker engine)"
	@echo "make test-unit   the fast run: every suite that needs no engine"
	@echo "make setup | engine | base | builders | registry | s3 | podman | chromium | lint | format | generated | clean"
	@echo "make test-parts   the tests of the S3 server and headless Chromium"
	@echo "make bench | bench-cli | bench-serve | bench-job   (figures: bench/README.md)"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# dist/ is made afresh: a file moved or removed in lib/ or test/ must not leave its compiled self
# behind, where the test globs would still find it.
dist/.built: node_modules/.installed $(TS_SOURCES) scripts/bundle.mjs
	rm -rf dist
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

# An S3-compatible server on 127.0.0.1:5303 that checks signatures: Debian's radosgw on a one-node
# Ceph cluster of its own (access key cortex-s2i-test, secret cortex-s2i-test-secret; the
# CORTEX_S2I_S3_* variables change them). Starts it only when the port does not answer;
# 'bash scripts/s3-server.sh --stop' stops what it started and removes its data.
s3:
	bash scripts/s3-server.sh

# Podman's API service on a socket of its own (/var/lib/cortex-s2i-podman/podman.sock, with its
# own image store there): installs Debian's podman when missing, starts `podman system service`
# when the socket does not answer; 'bash scripts/podman.sh --stop' stops what it started.
podman:
	bash scripts/podman.sh

# Debian's Chromium, which the browser tests drive headless through playwright-core (no browser
# download): test/support/browser.ts launches it with the flags a machine without internet needs.
chromium:
	bash scripts/chromium.sh

# The tests of these real parts (test/parts/): the S3 server through boto3 in the offline base, and
# headless Chromium on a page served on 127.0.0.1. Not part of `make test` yet.
test-parts: setup base s3 chromium
	npm run --silent test:parts

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

# The fast run: every suite that needs no engine, the TypeScript ones (in parallel: most of their
# time is spent waiting on child processes and timers) beside the Python runtime's.
test-unit: setup
	$(MAKE) --no-print-directory -j2 --output-sync=target test-ts test-python

test-ts: setup
	npm run --silent test:unit

# buildah, which the integration suite builds --as-dockerfile contexts with, as daemonless CI does.
buildah:
	bash scripts/buildah.sh

# The fast run, then the integration suite, which needs the engine and the builders; it never
# skips itself under CI=true.
test: lint test-unit builders buildah registry
	npm run --silent test:integration

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
