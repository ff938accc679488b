#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds ipcmeter, and runs every test: the C++ tests,
# the smoke run of every benchmark checked against the contract, and the Python scripts'
# tests, all through ctest. Exit 0 only when all pass.
#
# usage: scripts/test.sh
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "test.sh: takes no arguments (got '$1')" >&2; exit 2 ;;
esac

source "$(dirname "$0")/setup.sh"
ipcm_setup

# One test at a time: spinning peers of two tests would share the machine's CPUs.
ctest --test-dir build --output-on-failure --timeout 900
