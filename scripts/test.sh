#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds ipcmeter, and runs every test: the C++ tests,
# the smoke run of every benchmark checked against the contract, and the Python scripts'
# tests, all through ctest. Exit 0 only when all pass. Prints how long each stage took.
#
# usage: scripts/test.sh [--sanitize[=asan|tsan|asan,tsan] | --sanitize-only[=...]]
#   --sanitize       then the sanitizer stages (scripts/sanitize.sh; default both):
#                    asan: an ASan+UBSan build in build-asan/ running the C++ tests and the
#                    smoke run of every family; tsan: a TSan build in build-tsan/ running the
#                    thread-peer conformance, sync and state tests. Any report fails.
#   --sanitize-only  the sanitizer stages alone (no Release build, no ctest)
set -euo pipefail
sanitizers="" release=1
(($# <= 1)) || { echo "test.sh: one argument at most (see --help)" >&2; exit 2; }
case "${1:-}" in
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --sanitize) sanitizers=asan,tsan ;;
  --sanitize=*) sanitizers=${1#*=} ;;
  --sanitize-only) sanitizers=asan,tsan release=0 ;;
  --sanitize-only=*) sanitizers=${1#*=} release=0 ;;
  "") ;;
  *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
case "$sanitizers" in
  ""|asan|tsan|asan,tsan) ;;
  *) echo "test.sh: --sanitize=$sanitizers: expected asan, tsan or asan,tsan" >&2; exit 2 ;;
esac

source "$(dirname "$0")/setup.sh"
trap ipcm_stage_report EXIT

cd "$(dirname "$0")/.."
ipcm_stage setup ipcm_prepare
if ((release)); then
  ipcm_stage build ipcm_build
  # One test per vCPU. Spinning peers of two tests must not share the CPUs: the C++ tests hold
  # one lock (ipcm_peers) and run one at a time beside the scripts' tests, and the smoke run,
  # the fault suite, the browser test and the MPI and CPython rows run alone (RUN_SERIAL; see
  # tests/CMakeLists.txt).
  # The browser test must run here: a missing chromium fails it instead of skipping.
  export IPCM_REQUIRE_BROWSER=1
  ipcm_stage ctest ctest --test-dir build --output-on-failure --timeout 900 -j "$(nproc)"
fi
if [[ -n $sanitizers ]]; then
  source "$(dirname "$0")/sanitize.sh"
  if [[ $sanitizers == *asan* ]]; then ipcm_asan_stages; fi
  if [[ $sanitizers == *tsan* ]]; then ipcm_tsan_stages; fi
fi
