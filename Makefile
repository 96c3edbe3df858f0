# dyno: the replicator Lambda, the writer and their tests.
# `make demo` runs the system locally; `make test` runs every test (it installs what it needs).

VENV      := .venv
NODE_MODS := tools/node_modules
LAMBDA_ENV := --env-var PRIMARY_TABLE=dyno-primary --env-var REPLICA_TABLE=dyno-replica \
              --env-var PRIMARY_ENDPOINT_URL=http://127.0.0.1:8000 \
              --env-var REPLICA_ENDPOINT_URL=http://127.0.0.1:8001 \
              --env-var AWS_ACCESS_KEY_ID=local --env-var AWS_SECRET_ACCESS_KEY=local \
              --env-var AWS_REGION=us-east-1

.PHONY: tools test test-build lint build watch invoke deploy demo servers-up servers-down clean bench bench-build profile

## tools: local servers (npm, in tools/) and Python tools (moto, cfn-lint, cargo-lambda, in .venv)
tools: $(NODE_MODS)/.installed $(VENV)/.installed

$(NODE_MODS)/.installed: tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund
	touch $@

$(VENV)/.installed: tools/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

## lint: formatting, clippy, the SAM template, the sample events (`make test` lints as it builds)
lint: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml replica-account.yaml
	python3 scripts/make-events.py --check

## test: every test, against real local servers (started and stopped by the tests themselves),
## with lint's checks: the tools install while every target builds once, with clippy's lints
## (scripts/clippy-rustc), then the tests and the Lambda binaries end to end run on that build.
CLIPPY_BUILD := RUSTC_WORKSPACE_WRAPPER=$(CURDIR)/scripts/clippy-rustc
# Two tests a core: most of a test's time is spent waiting on its servers.
TEST_THREADS ?= $(shell echo $$(( $$(nproc) * 2 )))
test:
	cargo fmt --all -- --check
	$(MAKE) --no-print-directory -j2 tools test-build
	$(VENV)/bin/cfn-lint template.yaml replica-account.yaml
	python3 scripts/make-events.py --check
	$(CLIPPY_BUILD) cargo test --workspace --tests -- --test-threads=$(TEST_THREADS)
	$(CLIPPY_BUILD) scripts/lambda-e2e.sh

# Every target (the bench's package too, as `make lint` lints it), built for the tests; not
# `--all-targets`, which would also build a test harness for the two Lambda binaries.
test-build:
	$(CLIPPY_BUILD) cargo test --workspace --tests --no-run

## bench: the replicator's DynamoDB calls, speed against the same-run floor and a naive loop, and
## peak memory, per case, against local dynalite; then the rest of the pipeline (writer, lag,
## shards, backfill, diff memory, seeding, the second region) against same-run floors, with
## kinesalite and moto too (one bench binary, the package in benches/; not part of `test`).
## BENCH_CASES=a,b picks cases of either group, BENCH_SCALE=0.05 shrinks the pipeline's.
## One release build makes the bench and the shipped `replicator` (its size, its init) and `dyno`
## (diff's and load's memory): every dependency compiled once. The shipped build of those two
## is then asked for again and must find nothing to compile: the bench measures the shipped code.
## The tools (dynalite, kinesalite; moto for the seeding cases) install while it builds.
bench:
	$(MAKE) --no-print-directory -j2 tools bench-build
	@if cargo build --release -p dyno --bin replicator --bin dyno --message-format=json \
	  | grep -q '"fresh":false'; then \
	  echo "bench: the shipped build of replicator and dyno differs from the bench's (a feature" \
	    "benches/Cargo.toml turns on?): the figures would not be the shipped code's" >&2; exit 1; fi
	target/release/bench

bench-build:
	cargo build --release -p dyno-bench -p dyno --bin bench --bin replicator --bin dyno

## profile: where the CPU goes (perf, by symbol) in the replicator's bench cases and the writer at
## one caller: the bench built with symbols and frame pointers (`--profile profiling`, no LTO)
profile: $(NODE_MODS)/.installed
	RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling -p dyno-bench -p dyno --bin bench --bin dyno --bin replicator
	scripts/profile.sh

## build: the Lambda package for arm64 (target/lambda/replicator/bootstrap), cross-built with the
## zig that cargo-lambda's PyPI package brings
build: tools
	rustup target add aarch64-unknown-linux-gnu
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda build --release --arm64 --bin replicator

## servers-up / servers-down: dynalite (8000 primary, 8001 replica) and kinesalite (4567)
servers-up: tools
	scripts/servers.sh start

servers-down:
	scripts/servers.sh stop

## watch: run the function locally on the local servers (`make servers-up` first)
watch: tools
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda watch --bin replicator --invoke-address 127.0.0.1 $(LAMBDA_ENV)

## invoke: send a sample event to a running `cargo lambda watch` (EVENT=events/seed.json)
EVENT ?= events/seed.json
invoke: tools
	$(VENV)/bin/cargo-lambda lambda invoke replicator --data-file $(EVENT)

## deploy: with the AWS SAM CLI and your AWS credentials
deploy: build
	sam deploy

## demo: the system's main job, locally, on embedded defaults
demo: tools
	scripts/servers.sh start
	cargo run --quiet --bin dyno -- demo; status=$$?; scripts/servers.sh stop; exit $$status

clean: servers-down
	cargo clean
