#!/usr/bin/env bash
# Puts CUDA 11.8's NVRTC (libnvrtc.so.11.2 + libnvrtc-builtins.so.11.8) and, optionally, ptxas and
# cuobjdump into a cache folder, so the kernel-compile tests run on a GPU-less Debian bookworm
# machine (CI). The packages come from Debian's non-free component through a throw-away apt
# configuration: /etc/apt, the system package lists and dpkg's database are never touched.
# Needs root only because apt's download sandbox user is switched to root.
#
#   source .ci/fetch-nvrtc.sh [CACHE_DIR]   exports PISA_CUDA_LIB_DIRS (and puts ptxas on PATH)
#   .ci/fetch-nvrtc.sh [CACHE_DIR]          fetches and prints the library folder
#
# CACHE_DIR defaults to .cache/cuda118 under the repository root. Set PISA_FETCH_PTXAS=0 to skip
# the (larger) toolkit package that carries ptxas/cuobjdump. On GitHub Actions the variable is also
# appended to $GITHUB_ENV so later steps see it.
# PISA_FETCH_LIBCUDA=1 also fetches the driver library (libcuda.so.1 of Debian's 535 driver, 3 MB) into
# CACHE_DIR/driver and adds that folder: without a GPU, cuInit then fails with CUDA_ERROR_NO_DEVICE, which
# exercises the "driver but no device" path and lets tests check every bound driver symbol exists.
# Never set it on a GPU machine: the folder would shadow the real driver.

_pisa_fetch_nvrtc() (
  set -euo pipefail
  local cache="$1" want_ptxas="${PISA_FETCH_PTXAS:-1}"
  local lib="$cache/lib" bin="$cache/bin"
  local want_cuda="${PISA_FETCH_LIBCUDA:-0}" drv="$cache/driver"
  local have_lib=0 have_bin=0 have_drv=0
  [ -e "$lib/libnvrtc.so.11.2" ] && ls "$lib"/libnvrtc-builtins.so.* >/dev/null 2>&1 && have_lib=1
  { [ "$want_ptxas" = 0 ] || [ -x "$bin/ptxas" ]; } && have_bin=1
  { [ "$want_cuda" = 0 ] || [ -e "$drv/libcuda.so.1" ]; } && have_drv=1
  [ $have_lib = 1 ] && [ $have_bin = 1 ] && [ $have_drv = 1 ] && return 0

  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"   # the download sandbox must be able to write here
  mkdir -p "$work/lists/partial" "$work/archives/partial" "$lib"

  # Same mirror and keyring as the system's own bookworm entry, non-free component only.
  local mirror=http://deb.debian.org/debian keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  local src=/etc/apt/sources.list.d/debian.sources
  if [ -r "$src" ]; then
    mirror=$(awk '/^URIs:/{print $2; exit}' "$src")
    keyring=$(awk '/^Signed-By:/{print $2; exit}' "$src")
  fi
  echo "deb [signed-by=$keyring] $mirror bookworm non-free" >"$work/sources.list"

  local opts=(-qq
    -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=-
    -o Dir::State::Lists="$work/lists" -o Dir::Cache::Archives="$work/archives"
    -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
    -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update

  local pkgs=(libnvrtc11.2 libnvrtc-builtins11.8)
  [ $have_bin = 0 ] && pkgs+=(nvidia-cuda-toolkit)
  [ $have_drv = 0 ] && pkgs+=(libcuda1)
  (cd "$work" && apt-get "${opts[@]}" download "${pkgs[@]}")

  if [ $have_lib = 0 ]; then
    local deb
    for deb in "$work"/libnvrtc*.deb; do dpkg-deb -x "$deb" "$work/root"; done
    cp -a "$work"/root/usr/lib/x86_64-linux-gnu/libnvrtc* "$lib/"
  fi
  if [ $have_bin = 0 ]; then
    # Only the two tools: the rest of the toolkit package is not needed for NVRTC tests.
    mkdir -p "$bin"
    dpkg-deb --fsys-tarfile "$work"/nvidia-cuda-toolkit_*.deb \
      | tar -x -C "$bin" --strip-components=3 ./usr/bin/ptxas ./usr/bin/cuobjdump
  fi
  if [ $have_drv = 0 ]; then
    mkdir -p "$drv"
    dpkg-deb -x "$work"/libcuda1_*.deb "$work/drv"
    cp -L "$(find "$work/drv" -name 'libcuda.so.1' | head -n1)" "$drv/libcuda.so.1"
  fi
)

_pisa_repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_pisa_cache="${1:-$_pisa_repo_root/.cache/cuda118}"
if _pisa_fetch_nvrtc "$_pisa_cache"; then
  _pisa_dirs="$_pisa_cache/lib"
  [ "${PISA_FETCH_LIBCUDA:-0}" != 0 ] && _pisa_dirs="$_pisa_dirs:$_pisa_cache/driver"
  export PISA_CUDA_LIB_DIRS="$_pisa_dirs${PISA_CUDA_LIB_DIRS:+:$PISA_CUDA_LIB_DIRS}"
  [ -x "$_pisa_cache/bin/ptxas" ] && export PATH="$_pisa_cache/bin:$PATH"
  [ -n "${GITHUB_ENV:-}" ] && echo "PISA_CUDA_LIB_DIRS=$PISA_CUDA_LIB_DIRS" >>"$GITHUB_ENV"
  [ -n "${GITHUB_PATH:-}" ] && [ -x "$_pisa_cache/bin/ptxas" ] && echo "$_pisa_cache/bin" >>"$GITHUB_PATH"
  # Executed rather than sourced: tell the caller where the libraries are.
  [ "${BASH_SOURCE[0]}" = "$0" ] && echo "$_pisa_cache/lib"
  unset _pisa_repo_root _pisa_cache _pisa_dirs
  true
else
  _pisa_rc=$?
  echo "fetch-nvrtc: could not fetch NVRTC into $_pisa_cache" >&2
  unset _pisa_repo_root _pisa_cache
  (exit $_pisa_rc) # sourced: 'exit' would close the caller's shell
fi
