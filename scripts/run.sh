#!/usr/bin/env bash
# ipcmeter's main job: set up, build, run the suite, write
# results/runs/<host>-<UTC yyyymmddThhmmssZ>.json and its report beside it, print a summary.
#
# usage: scripts/run.sh [--profile quick|default|full] [--hosts HOSTFILE] [-- ipcmeter flags]
#   --hosts HOSTFILE  an MPI hostfile naming this machine first and a second one: the
#                     peer:mpi_remote rows run between the two (see README, "Across machines")
set -euo pipefail

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
profile=default
hosts=()
while (($#)); do
  case "$1" in
    --profile) [[ $# -ge 2 ]] || { echo "run.sh: --profile needs quick, default or full" >&2; exit 2; }
               profile=$2; shift 2 ;;
    --profile=*) profile=${1#--profile=}; shift ;;
    --hosts) [[ $# -ge 2 && -f $2 ]] || { echo "run.sh: --hosts needs an MPI hostfile that exists" >&2; exit 2; }
             hosts=(--hosts "$2"); shift 2 ;;
    --hosts=*) [[ -f ${1#--hosts=} ]] || { echo "run.sh: --hosts ${1#--hosts=}: no such file" >&2; exit 2; }
               hosts=(--hosts "${1#--hosts=}"); shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown argument '$1' (ipcmeter's own flags go after --)" >&2; exit 2 ;;
  esac
done
case "$profile" in quick|default|full) ;; *) echo "run.sh: --profile $profile: expected quick, default or full" >&2; exit 2 ;; esac

source "$(dirname "$0")/setup.sh"
ipcm_setup

host=$(hostname -s 2>/dev/null || hostname)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p results/runs
out="results/runs/${host}-${stamp}.json"
report_dir="results/runs/${host}-${stamp}"

build/ipcmeter --profile "$profile" --benchmark_out="$out" --benchmark_out_format=json "$@"

# The mpi rows need mpirun, once per MPI path (scripts/mpi_rows.py), and with --hosts once more
# across the two machines; they replace the rows the plain run listed with that reason. A
# launch that fails leaves its rows listed with its reason (or, when rank 0 wrote its results,
# the rows that ran and why the others did not).
if [[ -f "$out" ]]; then
  /usr/bin/python3 scripts/mpi_rows.py "$out" ${hosts[@]+"${hosts[@]}"} -- --profile "$profile" "$@" ||
    echo "run.sh: an mpi launch failed; its rows say why (ipcmeter.mpi_launches has its exit status and stderr)" >&2
fi

if [[ -f "$out" ]]; then
  /usr/bin/python3 scripts/report.py "$out" -o "$report_dir"
  echo
  echo "results: $out"
  echo "report:  $report_dir/report.html (and summary.md, plots as PNG)"
fi
