#!/usr/bin/env bash
# Run HERE (the development machine) before a GPU session: builds the NativeAOT `pisa` (the GPU machine has
# no .NET) into .carry/pisa, which the device call carries (`carry: [".carry"]`, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet publish src/PiSa.Cli -c Release -r linux-x64 -p:PublishAot=true -o .carry/pisa 2>&1 | grep -E "warning|error|->" || true
rm -f .carry/pisa/*.dbg .carry/pisa/*.pdb
ls -la .carry/pisa
echo "now: device run, command 'bash bench/gpu-check.sh', carry ['.carry']"
