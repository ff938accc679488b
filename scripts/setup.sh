# Sourced by run.sh and test.sh: makes a fresh Debian 12 machine able to build and run
# ipcmeter, then configures and builds it (Release, in build/).
# Everything comes from Debian's packages; nothing is downloaded at build time.

IPCM_PACKAGES=(
  g++ cmake make git pkg-config
  libbenchmark-dev libboost-dev libtbb-dev nlohmann-json3-dev libgtest-dev
  python3 python3-numpy python3-scipy python3-matplotlib python3-hypothesis
  rt-tests linux-perf
  nodejs chromium libjs-chart.js
  libopenmpi-dev openmpi-bin
  iceoryx libiceoryx-posh-dev libiceoryx-hoofs-dev
)
# The messaging-library transports (zmq_ipc, zmq_tcp, zmq_inproc, nng_ipc; issue 15).
IPCM_PACKAGES+=(libzmq3-dev cppzmq-dev libnng-dev)

ipcm_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

ipcm_install_packages() {
  local missing=()
  for p in "${IPCM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "ipcmeter needs these Debian packages; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || ipcm_die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || ipcm_die "apt-get install failed"
}

# The kernel keeps POSIX message queues whether or not their filesystem is mounted, but only a
# mounted /dev/mqueue lets a run see and sweep queues that a killed run left behind.
ipcm_mount_mqueue() {
  grep -qs " /dev/mqueue mqueue " /proc/mounts && return 0
  [[ $(id -u) -eq 0 ]] || { echo "note: /dev/mqueue is not mounted; stale message queues cannot be swept" >&2; return 0; }
  mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue 2>/dev/null ||
    echo "note: could not mount /dev/mqueue; stale message queues cannot be swept" >&2
}

# ipcm_build [DIR [cmake arguments...]]: configure and build in DIR (default build/, Release).
ipcm_build() {
  local dir=${1:-build}
  shift || true
  (($#)) || set -- -DCMAKE_BUILD_TYPE=Release
  mkdir -p "$dir"
  cmake -S . -B "$dir" "$@" >"$dir/cmake.log" 2>&1 ||
    { cat "$dir/cmake.log" >&2; ipcm_die "cmake configure failed (in $dir)"; }
  cmake --build "$dir" -j "$(nproc)" >"$dir/build.log" 2>&1 ||
    { tail -50 "$dir/build.log" >&2; ipcm_die "build failed (full log: $dir/build.log)"; }
}

# Packages and /dev/mqueue, from the repository's root.
ipcm_prepare() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
  ipcm_install_packages
  ipcm_mount_mqueue
}

ipcm_setup() {
  ipcm_prepare
  ipcm_build
}

# Stage timing (test.sh): `ipcm_stage NAME command...` runs the command and records how long
# it took; `trap ipcm_stage_report EXIT` prints every stage's seconds when the script ends,
# including the stage that failed (set -e ends the script inside it).
IPCM_STAGES=()
IPCM_STAGE_NOW=""
IPCM_STAGE_T0=""
IPCM_RUN_T0=$EPOCHREALTIME
ipcm_seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
ipcm_stage() {
  IPCM_STAGE_NOW=$1
  shift
  echo "--- stage $IPCM_STAGE_NOW" >&2
  IPCM_STAGE_T0=$EPOCHREALTIME
  "$@"
  IPCM_STAGES+=("$IPCM_STAGE_NOW $(ipcm_seconds_since "$IPCM_STAGE_T0") ok")
  IPCM_STAGE_NOW=""
}
ipcm_stage_report() {
  local rc=$? line
  [[ -n $IPCM_STAGE_NOW ]] && IPCM_STAGES+=("$IPCM_STAGE_NOW $(ipcm_seconds_since "$IPCM_STAGE_T0") FAILED")
  ((${#IPCM_STAGES[@]})) || return "$rc"
  {
    echo
    printf '%-18s %9s  %s\n' stage seconds status
    for line in "${IPCM_STAGES[@]}"; do
      # shellcheck disable=SC2086
      printf '%-18s %9s  %s\n' $line
    done
    printf '%-18s %9s\n' total "$(ipcm_seconds_since "$IPCM_RUN_T0")"
  } >&2
  return "$rc"
}
