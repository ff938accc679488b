# Sourced by run.sh and test.sh: makes a fresh Debian 12 machine able to build and run
# ipcmeter, then configures and builds it (Release, in build/).
# Everything comes from Debian's packages; nothing is downloaded at build time.

IPCM_PACKAGES=(
  g++ cmake make git pkg-config
  libbenchmark-dev libboost-dev libtbb-dev nlohmann-json3-dev libgtest-dev
  python3 python3-numpy python3-scipy python3-matplotlib python3-hypothesis
)

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

ipcm_build() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >build/cmake.log 2>&1 ||
    { cat build/cmake.log >&2; ipcm_die "cmake configure failed"; }
  cmake --build build -j "$(nproc)" >build/build.log 2>&1 ||
    { tail -50 build/build.log >&2; ipcm_die "build failed (full log: build/build.log)"; }
}

ipcm_setup() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
  ipcm_install_packages
  ipcm_mount_mqueue
  mkdir -p build
  ipcm_build
}
