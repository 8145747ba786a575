#!/usr/bin/env bash
# Bounded load on `pisa serve` over loopback only: starts the server on 127.0.0.1 (a free port) with the tiny
# fixture model on the CPU, sends a fixed number of POST /v1/upscale requests with a fixed concurrency (every
# curl capped at 60 s, the whole run at MAX_S seconds), prints throughput and p50/p90/p99 latency, then stops the
# server with SIGTERM. Nothing leaves the machine.
#   bench/serve-load.sh                     # PISA=artifacts/pisa/pisa N=64 C=4 MAX_S=300
#   PISA=/tmp/pisa N=128 C=8 bench/serve-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PISA=${PISA:-artifacts/pisa/pisa}
N=${N:-64}
C=${C:-4}
MAX_S=${MAX_S:-300}
PROCESS_SIZE=${PROCESS_SIZE:-64}
TINY=tests/fixtures/pisa-tiny
INPUT=$TINY/inputs/lq_a.png
[ -x "$PISA" ] || { echo "serve-load: no pisa binary at $PISA (dotnet publish src/PiSa.Cli -c Release -r linux-x64 -p:PublishAot=true -o artifacts/pisa)"; exit 1; }
command -v curl >/dev/null || { echo "serve-load: needs curl"; exit 1; }

work=$(mktemp -d)
"$PISA" serve --model $TINY/sd --lora $TINY/pisa_sr.pkl --device cpu --host 127.0.0.1 --port 0 \
  --process-size "$PROCESS_SIZE" --queue $((C * 4)) >"$work/out" 2>"$work/err" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 600); do   # up to 60 s for the model to load
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/out" | head -1 || true)
  [ -n "$url" ] && break
  kill -0 $server 2>/dev/null || { cat "$work/err"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "serve-load: server did not start"; exit 1; }
case "$url" in http://127.0.0.1:*) ;; *) echo "serve-load: refusing non-loopback $url"; exit 1;; esac

post() { curl -s -o /dev/null --max-time 60 -w '%{http_code} %{time_total}\n' -X POST -H 'Content-Type: image/png' --data-binary @"$INPUT" "$url/v1/upscale"; }
export -f post; export INPUT url
for _ in 1 2 3; do post >/dev/null; done   # warm-up (kernel/JIT-free binary, but first-image caches)

t0=$(date +%s.%N)
seq "$N" | timeout "$MAX_S" xargs -P "$C" -I{} bash -c post >"$work/lat" || true
t1=$(date +%s.%N)
ok=$(awk '$1 == 200' "$work/lat" | wc -l)
awk '$1 == 200 { print $2 }' "$work/lat" | sort -n >"$work/ok"
pct() { awk -v p="$1" '{ a[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1; printf "%.1f", a[i] * 1000 }' "$work/ok"; }
wall=$(echo "$t1 - $t0" | bc -l)
printf 'serve-load: %d/%d requests OK, concurrency %d, process size %s, %.1f s wall\n' "$ok" "$N" "$C" "$PROCESS_SIZE" "$wall"
printf 'serve-load: throughput %.2f images/s; latency ms p50 %s  p90 %s  p99 %s  max %s\n' \
  "$(echo "$ok / $wall" | bc -l)" "$(pct 0.50)" "$(pct 0.90)" "$(pct 0.99)" "$(pct 1.0)"
printf 'serve-load: load average %s; nproc %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
curl -s "$url/metrics" | grep -E '^pisa_(images_total|errors_total|stage_seconds_sum)' || true
