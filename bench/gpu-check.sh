#!/usr/bin/env bash
# Run ON the GPU machine (device tool), in the repository root, after bench/gpu-prep.sh built .carry/pisa here.
# The device machine allows 10 minutes per command and about 15 minutes in all, start-up included, so the check
# is split into steps, one device call each, most decisive first; each step's commands have timeouts that sum
# to at most 6 minutes, and each leaves its logs in $OUT:
#   doctor-selftest  environment, `pisa doctor` (every kernel compiles for this GPU), `pisa selftest --device cuda`
#                    (every op CUDA vs CPU on random inputs incl. SD2.1 sizes, then every golden fixture case on
#                    CUDA, SPEC 5 tolerances), `pisa kernels --device cuda --family conv` (every conv version
#                    checked against the CPU and timed on the UNet/VAE shapes; v4-wgmma on sm_90 only)
#   random-model     a full-size SD2.1-shaped random-weight model through the whole pipeline on CUDA vs the CPU
#                    backend on the same weights, every intermediate compared, at 256x256 (the CPU side's time)
#   bench            `pisa bench` at 512x512, random SD2.1 weights built once for the three modes, 2 warm-ups + 5 runs;
#                    then default mode again with PISA_CUDA_WGMMA=off (the mma.sync tiles) for the side-by-side,
#                    graphs off then on (--graphs both: the launch overhead CUDA graphs remove)
#   reference        in one command: `pisa bench` 512x512 default+adjustable, `pisa export-random` (the same random
#                    weights, our intermediates on CUDA), then bench/reference/pisa_torch_gpu.py: PyTorch eager fp16 and
#                    torch.compile on those weights, times with spreads and relative L2 to ours (carry also
#                    bench/reference/.vendor, the diffusers 0.25 source gpu-prep.sh puts there)
# `bash bench/gpu-check.sh` with no argument prints the steps and how to run them.
set -u
OUT="${OUT:-/tmp/pisa-out}"
PISA="${PISA:-.carry/pisa/pisa}"
export PISA_KERNEL_CACHE="${PISA_KERNEL_CACHE:-/tmp/pisa-kernels}"   # kept between steps while the machine stays warm

# Per-command timeouts in seconds, one place (the listing prints each step's sum; a test keeps each under 9 min).
T_DOCTOR=60
T_SELFTEST=240
T_KERNELS=120
T_BENCH_NOWGMMA=120
T_RANDOM_MODEL=360
T_BENCH=300
T_REF_BENCH=120
T_REF_EXPORT=90
T_REF_TORCH=210
REF_DATA="${REF_DATA:-/tmp/pisa-ref}"   # GBs of weights: outside $OUT, which comes back

STEPS="doctor-selftest random-model bench reference"
budget() {
  case "$1" in
    doctor-selftest) echo $((T_DOCTOR + T_SELFTEST + T_KERNELS)) ;;
    random-model) echo "$T_RANDOM_MODEL" ;;
    bench) echo $((T_BENCH + T_BENCH_NOWGMMA)) ;;
    reference) echo $((T_REF_BENCH + T_REF_EXPORT + T_REF_TORCH)) ;;
  esac
}

usage() {
  echo "usage: bash bench/gpu-check.sh STEP    (on the GPU machine, after bench/gpu-prep.sh here; logs in \$OUT, default /tmp/pisa-out)"
  echo "steps, most decisive first; one device call each (e.g. run command 'bash bench/gpu-check.sh doctor-selftest', carry ['.carry']):"
  for s in $STEPS; do
    case "$s" in
      doctor-selftest) what="environment, pisa doctor, pisa selftest --device cuda (ops incl. SD2.1 sizes, golden cases), pisa kernels --family conv" ;;
      random-model) what="full-size random SD2.1 model, cuda vs cpu, at 256x256" ;;
      bench) what="pisa bench 512x512, random SD2.1 weights, default+adjustable+fused in one process, 2 warm-ups + 5 runs; default again without wgmma, graphs off then on" ;;
      reference) what="pisa bench 512 default+adjustable, then PyTorch eager fp16 + torch.compile on the same weights, rel L2 to ours (carry also bench/reference/.vendor)" ;;
    esac
    echo "  step $s: at most $(budget "$s") s: $what"
  done
}

status=0
section() { echo; echo "=== $*"; }

# run_logged NAME TIMEOUT CMD...: runs CMD under timeout, its whole output in $OUT/NAME.txt and on stdout.
run_logged() {
  local name=$1 limit=$2; shift 2
  section "$name (timeout ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  # The device tool keeps only the end of stdout; the full log comes back in $OUT.
  tail -n 60 "$OUT/$name.txt"
  [ "$rc" = 124 ] && echo "$name: TIMED OUT after ${limit}s"
  echo "$name: exit $rc, $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || status=1
}

environment() {
  section environment
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not found"
    which dotnet || echo "dotnet: absent (expected; the native pisa is used)"
    echo "nproc $(nproc)"; uptime; } > "$OUT/env.txt" 2>&1
  cat "$OUT/env.txt"
}

step="${1:-}"
case "$step" in
  "" | -h | --help) usage; exit 0 ;;
  doctor-selftest | random-model | bench | reference) ;;
  *) echo "gpu-check: unknown step '$step'"; usage; exit 2 ;;
esac
[ -x "$PISA" ] || { echo "no $PISA: run bench/gpu-prep.sh first and carry .carry"; exit 2; }
mkdir -p "$OUT"
start=$SECONDS

case "$step" in
  doctor-selftest)
    environment
    run_logged doctor "$T_DOCTOR" "$PISA" doctor
    run_logged selftest "$T_SELFTEST" "$PISA" selftest --device cuda --fixtures tests/fixtures/pisa-tiny
    run_logged kernels-conv "$T_KERNELS" "$PISA" kernels --device cuda --family conv --warmup 3 --runs 20
    ;;
  random-model)
    run_logged random-model "$T_RANDOM_MODEL" "$PISA" selftest --device cuda --no-large --random-model 256
    ;;
  bench)
    run_logged bench "$T_BENCH" "$PISA" bench --random-weights --device cuda --sizes 512 --mode default,adjustable,fused \
      --warmup 2 --runs 5 --json "$OUT/bench.json"
    run_logged bench-no-wgmma "$T_BENCH_NOWGMMA" env PISA_CUDA_WGMMA=off "$PISA" bench --random-weights --device cuda --sizes 512 \
      --mode default --warmup 2 --runs 5 --graphs both --json "$OUT/bench-no-wgmma.json"
    ;;
  reference)
    [ -d bench/reference/.vendor/src/diffusers ] || { echo "no bench/reference/.vendor/src/diffusers: run bench/gpu-prep.sh and carry bench/reference/.vendor"; exit 2; }
    environment
    run_logged reference-bench "$T_REF_BENCH" "$PISA" bench --random-weights --device cuda --sizes 512 --mode default,adjustable \
      --warmup 1 --runs 5 --json "$OUT/reference-bench.json"
    run_logged reference-export "$T_REF_EXPORT" "$PISA" export-random "$REF_DATA" --device cuda --size 512
    run_logged reference-torch "$T_REF_TORCH" env PYTHONPATH=bench/reference/stubs:bench/reference/.vendor/src \
      python3 bench/reference/pisa_torch_gpu.py --data "$REF_DATA" --device cuda --dtype fp16 --modes eager,compile \
      --warmup 2 --runs 5 --json "$OUT/reference.json"
    ;;
esac
echo; echo "gpu-check $step: status $status, $((SECONDS - start)) s; logs in $OUT"
exit $status
