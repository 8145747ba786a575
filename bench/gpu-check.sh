#!/usr/bin/env bash
# Run ON the GPU machine (device tool), in the repository root, after bench/gpu-prep.sh built .carry/pisa here.
# One call does everything the CUDA issue asks to verify, in order, and leaves its logs in $OUT:
#   1. environment (GPU, driver, whether .NET exists there), `pisa doctor` (kernels compile for this GPU);
#   2. `pisa selftest --device cuda`: every op CUDA vs CPU on random inputs incl. SD2.1 sizes, then every
#      golden fixture case on CUDA (SPEC 5 tolerances);
#   3. a full-size SD2.1-shaped random-weight model through the whole pipeline on CUDA vs the CPU backend on
#      the same weights (reduced size: CPU time), and no NaN at 512x512;
#   4. first timings: `pisa bench` at 512x512 output, default and adjustable modes, random SD2.1 weights.
set -u
OUT="${OUT:-/tmp/pisa-out}"; mkdir -p "$OUT"
PISA=.carry/pisa/pisa
export PISA_KERNEL_CACHE=/tmp/pisa-kernels
status=0
step() { echo; echo "=== $*"; }

step environment
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; which dotnet || echo "dotnet: absent (expected; the native pisa is used)"; nproc; } 2>&1 | tee "$OUT/env.txt"
[ -x "$PISA" ] || { echo "no $PISA: run bench/gpu-prep.sh first and carry .carry"; exit 2; }

step doctor
"$PISA" doctor 2>&1 | tee "$OUT/doctor.txt" || status=1

step "selftest (ops + golden cases on cuda)"
timeout 300 "$PISA" selftest --device cuda --fixtures tests/fixtures/pisa-tiny 2>&1 | tee "$OUT/selftest.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1

step "full-size random SD2.1 model: cuda vs cpu"
timeout 400 "$PISA" selftest --device cuda --no-large --random-model 256 2>&1 | tail -40 | tee "$OUT/random-model.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1

step "bench 512x512, random SD2.1 weights"
for mode in default adjustable fused; do
  timeout 200 "$PISA" bench --random-weights --device cuda --sizes 512 --mode $mode --warmup 3 --runs 10 --json "$OUT/bench-$mode.json" 2>&1 | tee "$OUT/bench-$mode.txt"
done
echo; echo "gpu-check: status $status"
exit $status
