# Every target installs what it needs first, so a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.a2bench-installed
# A results folder for make run and make report; empty: a run goes where a2bench run puts it
# (results/local/default-<time>) and a report reads the newest of those.
RUN_DIR ?=
# pytest-benchmark timings compare only on the machine and thread count that saved them, and its
# machine id (e.g. Linux-CPython-3.11-64bit) does not tell two CPUs apart, so the baseline is kept
# per machine in the git-ignored .benchmarks/ unless BENCH_STORAGE points elsewhere.
BENCH_STORAGE ?= .benchmarks
BENCH_FAIL    ?= median:10%
BENCH         := $(PY) -m pytest tests/benchmarks --benchmark-only -q \
                 --benchmark-storage=file://$(BENCH_STORAGE)
GATE_OUT ?= results/local/gate-$(shell date +%Y%m%d-%H%M%S)
GATE_PASSES      ?= 6    # worker processes per side (the unit a2bench compare replicates); a
                         # single case of gate.yaml's 9 can fail only with 6 (5: up to 6 cases)
GATE_TIME_BUDGET ?= 0.3  # seconds of sampling per case and pass

.PHONY: install run report publish test lint gate gate-timing bench-save bench-compare clean

# Where pip takes torch from: empty, the configured index (PyPI's Linux wheel is the CUDA build,
# about 3 GB); on a machine without a GPU, TORCH_INDEX=https://download.pytorch.org/whl/cpu
# takes the CPU build of the same pinned version (as .github/workflows/benchmarks.yml does).
TORCH_INDEX ?=

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet \
	    "$$(grep -m1 '^torch==' requirements.lock)" --index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# The defaults are the method: three passes, each in a fresh worker, replicate the process;
# within a pass the cases are timed together in shuffled chunks, so a machine whose speed drifts
# for seconds at a time slows every size alike instead of a few. One thread, whatever the cores:
# the suite says `threads: 1`, as it was sized; more threads pay more at its large sizes than at
# its small ones, and its latency exponents fall (the suite of 12 sizes at 2 threads: the
# non-local order 1.65 against 1.76-1.81 at one, results/cpu-default-threads-2).
run: install
	$(VENV)/bin/a2bench run suites/default.yaml $(if $(RUN_DIR),--out $(RUN_DIR))

# A scaling report of a finished run, into its report/: the newest results/local/default-* that
# `make run` wrote, or RUN_DIR=<a results folder>.
report: install
	@dir="$(or $(RUN_DIR),$$(ls -dt results/local/default-* 2>/dev/null | head -1))"; \
	test -n "$$dir" || { echo "make report: no run in results/local/ yet; expected make run first, or RUN_DIR=<a results folder>" >&2; exit 2; }; \
	echo "$(VENV)/bin/a2bench report $$dir"; \
	$(VENV)/bin/a2bench report "$$dir"

# The published report (results/report), the README headline and docs/results.md, from the runs
# in results/.
publish: install
	$(PY) scripts/publish.py

# Three pytest-xdist workers on 2 cores: most tests wait on spawned workers, Slurm jobs and
# timeouts, and at two the cores sat idle about a quarter of the time. Back to back in one
# clone of main on this repository's 2-core AVX2 VM, nothing else running (2026-12-07): two
# workers 9:42 of pytest (user+sys 14:44), three 9:12 (15:32), every test passing both times.
# Each worker that reaches the Slurm tests starts its own one-node Slurm on its own ports
# (tests/conftest.py). Work stealing: xdist's default `load` queues a quarter of the tests up
# front, and a worker left with a long queue ran on alone at the end (8:33 in a quiet CI clone
# on 2026-12-07; 6:07 with worksteal, same commit).
# PYTHONDONTWRITEBYTECODE emptied for the tests alone: set (as on this repository's VMs), pytest
# cannot cache its assert-rewritten test modules in tests/__pycache__, and every worker rewrote
# all of them at each collection: 19-21 s of CPU a worker against 11-12 s from the cache
# (--collect-only, loaded 2-core VM).
TEST_WORKERS ?= 3
test: install
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal

lint: install
	$(VENV)/bin/ruff check .

# The exact-metrics gate of .ci/run: MACs, FLOPs and analytic bytes of suites/smoke.yaml against
# the committed results/baseline/smoke. It never reads a timing, so it cannot flake. One thread:
# an analytic peak follows the convolution kernel torch picks, which the thread count changes.
# The run's table and verdicts (a smoke suite's are inconclusive by design) show only if it fails.
gate: install
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	{ $(VENV)/bin/a2bench run suites/smoke.yaml --out "$$dir/smoke" --no-progress --threads 1 \
		--calibration-time 0.01 --processes 1 > "$$dir/run.txt" || { cat "$$dir/run.txt"; exit 1; }; } && \
	$(VENV)/bin/a2bench compare results/baseline/smoke "$$dir/smoke" --exact-only

# The timing gate of the GitHub workflow, locally: make gate-timing BASE_SRC=../a2bench-base
# (a checkout of the base commit, e.g. made with git worktree add ../a2bench-base origin/main).
# Each side runs GATE_PASSES passes, interleaved with the other side's; about 3 minutes on 2 cores
# (2.5 measured at 5 passes).
gate-timing: install
	@test -n "$(BASE_SRC)" || { echo "usage: make gate-timing BASE_SRC=<checkout of the base commit>" >&2; exit 2; }
	PYTHON=$(PY) PASSES=$(strip $(GATE_PASSES)) TIME_BUDGET=$(strip $(GATE_TIME_BUDGET)) \
		scripts/ci_gate.sh $(BASE_SRC) $(GATE_OUT)

bench-save: install
	$(BENCH) --benchmark-save=baseline

bench-compare: install
	@ls $(BENCH_STORAGE)/*/*.json >/dev/null 2>&1 || { echo "bench-compare: no saved baseline in $(BENCH_STORAGE); run make bench-save first (on this machine)" >&2; exit 2; }
	$(BENCH) --benchmark-compare --benchmark-compare-fail=$(BENCH_FAIL)

clean:
	rm -rf $(VENV) .pytest_cache results/local
