#!/usr/bin/env bash
# Run HERE (the development machine) before a GPU session: builds the NativeAOT `pisa` (the GPU machine has
# no .NET) into .carry/pisa, which the device call carries (`carry: [".carry"]`, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet publish src/PiSa.Cli -c Release -r linux-x64 -p:PublishAot=true -o .carry/pisa 2>&1 | grep -E "warning|error|->" || true
rm -f .carry/pisa/*.dbg .carry/pisa/*.pdb
ls -la .carry/pisa
# The reference step's diffusers 0.25 source (never committed; bench/reference/.vendor is ignored by git): from a local
# clone or mirror of huggingface/diffusers (DIFFUSERS_GIT, default the fetch tool's mirror), tag v0.25.0, src/ only.
DIFFUSERS_GIT="${DIFFUSERS_GIT:-/work/.mirror/huggingface+diffusers/repo}"
if [ -d bench/reference/.vendor/src/diffusers ]; then
  echo "bench/reference/.vendor: diffusers source present"
elif git -C "$DIFFUSERS_GIT" rev-parse -q --verify v0.25.0 >/dev/null 2>&1; then
  mkdir -p bench/reference/.vendor
  git -C "$DIFFUSERS_GIT" archive v0.25.0 src/diffusers | tar -x -C bench/reference/.vendor
  echo "bench/reference/.vendor: diffusers v0.25.0 src/ from $DIFFUSERS_GIT"
else
  echo "bench/reference/.vendor: no diffusers source (set DIFFUSERS_GIT to a clone with tag v0.25.0); the reference step will refuse"
fi
echo "now: device run, command 'bash bench/gpu-check.sh STEP', carry ['.carry'] (the reference step: ['.carry', 'bench/reference/.vendor'])"
