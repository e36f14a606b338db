#!/usr/bin/env bash
# The prepared GPU check (docs/speed.md, "The GPU check"): one call on a GPU machine installs the carried wheels,
# runs the GPU tests, times every lever setting beside the seed blog's step, the metric protocol and the sweep end to
# end, and writes $OUT/summary.md, results.json and check.log. Prepare it first with bench/prepare_gpu_check.sh.
#
#   bash bench/gpu_check.sh                 # GPU machine
#   bash bench/gpu_check.sh --dry-run       # any machine: the same steps, tiny sizes, CPU (tests/test_gpu_check.py)
#   bash bench/gpu_check.sh --help          # steps, --only, --budget, ...
set -uo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" bench/gpu_check.py "$@"
