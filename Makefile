# Two commands set up everything: `make demo` and `make test`. Both create .venv on first use and
# reinstall only when pyproject.toml or constraints.txt change, so a second run starts at once.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit clean clang chromium mmdebstrap

demo: $(STAMP) clang
	$(BIN)/airlock demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs in one process more than the machine has cores (most tests wait on compilers, sandboxes, servers
# and subprocesses), at most 8; each test file stays in one process, so its module-wide fixtures are built once.
# TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 7 ] && n=7; echo $$((n + 1)))

unit: $(STAMP) clang chromium mmdebstrap
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The fuzzer baseline needs clang with libFuzzer. Where it is missing and Debian's packages can be installed
# (root, apt-get), install them; otherwise the baseline reports itself unavailable and its tests skip.
clang:
	@command -v clang >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing clang with libFuzzer from Debian's packages, for the fuzzer baseline."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; \
		else \
			echo "clang is not installed: the fuzzer baseline will be unavailable (apt-get install clang)."; \
		fi; }

# Images for sandboxes are built from Debian's packages with mmdebstrap (airlock images build; the image tests build a
# small one once per machine and keep it in ~/.cache/airlock/test-images). Installed like clang.
mmdebstrap:
	@command -v mmdebstrap >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing mmdebstrap from Debian's packages, for building sandbox images."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; \
		else \
			echo "mmdebstrap is not installed: image builds and their tests will skip (apt-get install mmdebstrap)."; \
		fi; }

# The portal's end-to-end tests drive Debian's Chromium with Playwright (Playwright's own browser download
# needs the internet). Installed like clang; without it those tests skip and say why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing Chromium from Debian's packages, for the portal's end-to-end tests."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "chromium is not installed: the portal's browser tests will skip (apt-get install chromium)."; \
		fi; }

# The bundled model's runtime (llama.cpp) is compiled by scripts/llama-wheel for an instruction-set level named
# there (x86-64 with AVX2; never -march=native, AVX-512 or AMX), once per machine, and installed from that wheel
# before anything else, so pip never builds (or reuses from its cache) a native one.
LLAMA_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' constraints.txt)

$(STAMP): pyproject.toml constraints.txt scripts/llama-wheel
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Airlock needs Python 3.11 or newer: run 'make PYTHON=/path/to/python3.11 ...'." >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@wheel=$$(scripts/llama-wheel $(BIN)/python $(LLAMA_VERSION)) && \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$$wheel" && \
		mkdir -p $(VENV)/share/airlock && cp "$$(dirname "$$wheel")/build-info" $(VENV)/share/airlock/llama-cpp-build && \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
			--find-links "$$(dirname "$$wheel")" -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
