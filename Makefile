# fleetprof — the two commands a newcomer needs:
#   make demo   install what is missing, build, start a private PostgreSQL and
#               a collector, profile a sample program on 3 hosts, print `top`
#   make test   the same set-up, then every test in a normal build and in an
#               address,undefined sanitizer build, plus 60 s of fuzzing
# Everything lands under build*/ and var/ in this directory.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?= -DFP_WERROR=ON
PG_LOCAL := deploy/pg-local
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan build-tsan pg migrate test test-unit \
	test-asan test-tsan fuzz demo demo-stop bench format clean distclean

all: build

deps:
	@deploy/install-deps

build: deps
	@cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

build-asan: deps
	@cmake -S . -B build-asan $(CMAKE_FLAGS) \
		-DFP_SANITIZE=address,undefined >/dev/null
	@cmake --build build-asan -j$(JOBS)

build-tsan: deps
	@cmake -S . -B build-tsan $(CMAKE_FLAGS) -DFP_SANITIZE=thread >/dev/null
	@cmake --build build-tsan -j$(JOBS) --target tsan_tests

pg: deps
	@$(PG_LOCAL) start >/dev/null

migrate: build pg
	@build/bin/fleetprof-collector --migrate --db "$$($(PG_LOCAL) url)"

test: build build-asan build-tsan pg
	@FLEETPROF_TEST_DB="$$($(PG_LOCAL) url)" JOBS=$(JOBS) \
		FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run-all.sh

demo: build pg
	@deploy/demo start

demo-stop:
	@deploy/demo stop

bench: build pg
	@deploy/install-deps --bench
	@bench/run

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan build-tsan build-fuzz

distclean: clean
	-@deploy/demo stop 2>/dev/null
	-@$(PG_LOCAL) destroy 2>/dev/null
	rm -rf var
