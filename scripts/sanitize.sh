# shellcheck shell=bash
# Sourced by test.sh --sanitize (after setup.sh): the sanitizer stages.
#
#   asan-build   build-asan/: every C++ target with -fsanitize=address,undefined
#   asan-tests   the C++ tests (IPCM_ASAN_GTEST_FILTER) under ASan+UBSan+LeakSanitizer
#   asan-smoke   tests/smoke_run.py on the ASan ipcmeter: every benchmark of every family
#   tsan-build   build-tsan/: every C++ target with -fsanitize=thread
#   tsan-tests   the thread-peer tests (IPCM_TSAN_GTEST_FILTER) under ThreadSanitizer
#
# The suite starts copies of itself (spawned and forked peers), so the sanitizers are set up
# through the environment, which every child inherits: each report goes to a file under
# <build dir>/sanitizer-logs/<stage>/ named after the reporting process, and a stage fails
# when its command fails *or* any report file appears there -- a report in a peer whose exit
# the parent reads only as "peer failed", or in a child that is killed afterwards, still fails
# the stage. The reports are printed.
#
# Sanitized builds are RelWithDebInfo with -O1 -g1: -O1 is the level the sanitizers' authors
# recommend (fast enough, stacks still exact), -g1 gives file:line in every frame at a fraction
# of -g's compile time (these builds are on the CI's clock). -O0 saves no measurable time: on a
# clean clone of 7ef6c73 (2 vCPUs, 2026-12-06) the ASan stages took asan-build 312 s, asan-tests
# 263 s, asan-smoke 90 s at -O0, 665 s, against 425 + 181 + 64 = 670 s at -O1 in CI's run of
# 1e5c57b (not interleaved; the same clone's -O1 build alone took 391 s);
# the build's time is compiling (links 2 s), and of tests/describe_test.cpp's 31 s at -O1 -g1,
# UBSan is 13 s, ASan 7 s, -g1 6 s and parsing 5 s, so a unity build would save little.
# Nor is the ASan build run beside ctest, though ctest leaves about a third of the two vCPUs
# idle. Tried on clean clones (2 vCPUs, PTI, kernel 6.18.44-fc-v1272, 2026-12-06, one run
# each, not interleaved): the build at the idle scheduling class (SCHED_IDLE), stopped while
# the tests that run alone ran, finished before ctest did, but ctest took 989 s instead of
# 677 (the scripts' tests 974 s of test time instead of 601, the C++ tests 337 instead of 186,
# the fault suite 392 instead of 277: an idle-class compiler on one vCPU still slows the work
# on the other on this VM), and the whole job 1444 s against 1478 s built one after the other:
# no measurable gain, for a background job and a wrapper around every test that runs alone.

IPCM_SAN_FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
IPCM_SUPP="$PWD/tests/sanitizers"

# Every C++ test but these. Spawn.BallastIsResidentWhileHeldAndReleasedAfter checks that freed
# memory leaves the resident set, which ASan's allocator does not do by design (freed blocks
# wait in its quarantine). The others add no code that the tests left in do not run, run in
# the Release ctest stage, and would take the sanitizers further past their 10 minutes (times
# under ASan, 2 vCPUs, 2026-12-02): Faults.HungPeerTimesOut (waits out the peer timeout: ~20 s
# asleep), Security.ForkServerClientDoesNotHangOnHalfAnAnswer (waits out the fork server's
# reply timeout: 10 s asleep), SyncProtocol.NoLostWakeupsOverManyRounds (200,000 rounds of each
# blocking primitive: ~18 s), Describe.EveryRegisteredNameParsesAgainstIt (the full profile's
# 5,356 names through the parser: 41 s; the smoke run parses the quick profile's with the same
# code), and conformance at 1 MiB with spinning waits (15 cases, 52 s: the 1 MiB messages still
# go through every transport and peer with blocking waits, and the spinning waits at every
# smaller size), Iceoryx.KilledPeersEndTheirRowAndTheNextRowRuns (a fresh RouDi per strike;
# Faults.KilledPeerIsNoticedAndReaped strikes an iceoryx peer through the same code), and
# conformance of the ZeroMQ and nng transports at 64 KiB and 1 MiB (36 cases, 50 s: Debian's
# libraries are not instrumented, and ipcmeter's code over them is the same at every size, which
# the smaller sizes run over every peer and wait).
IPCM_ASAN_GTEST_FILTER=${IPCM_ASAN_GTEST_FILTER:-"*-Spawn.BallastIsResidentWhileHeldAndReleasedAfter:Faults.HungPeerTimesOut:Security.ForkServerClientDoesNotHangOnHalfAnAnswer:SyncProtocol.NoLostWakeupsOverManyRounds:Describe.EveryRegisteredNameParsesAgainstIt:Registry/Conformance.*_1048576_spin:Iceoryx.KilledPeersEndTheirRowAndTheNextRowRuns:Registry/Conformance.*/zmq_*_65536_*:Registry/Conformance.*/zmq_*_1048576_*:Registry/Conformance.*/nng_*_65536_*:Registry/Conformance.*/nng_*_1048576_*"}
# TSan: the tests whose peers are threads of this process -- TSan sees one process, and
# supports fork poorly. Conformance over every transport with thread peers, the sync protocols
# and the state workloads with thread parties, fan-in with thread producers and consumers.
# Not the pool family: oneTBB's scheduler lives in Debian's uninstrumented libtbb, so TSan
# cannot see that a task_group task starts after it was created and reports every task's
# captures as races; a suppression wide enough to hide that (any race under a libtbb frame)
# would hide ipcmeter's own races in tasks as well. TSan does not model atomic_thread_fence
# (-Wtsan says so when building); shm_ring uses one only in its sleep/wake handshake on atomics.
IPCM_TSAN_GTEST_FILTER=${IPCM_TSAN_GTEST_FILTER:-"Registry/Conformance.*_thread_*:All/SyncProtocol.*_thread_*:All/StateExact.*_thread_*:All/FaninExactlyOnce.*_thread_*"}

# ipcm_san_env asan|tsan LOGDIR: exports the sanitizers' options for this process and every
# child it starts.
ipcm_san_env() {
  local kind=$1 logs=$2
  if [[ $kind == asan ]]; then
    # exitcode 86 / halt_on_error: any report ends the process with a status its parent
    # notices; log_path: one file per reporting process, children included.
    export ASAN_OPTIONS="log_path=$logs/asan:exitcode=86:abort_on_error=0:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:strict_string_checks=1:print_suppressions=0"
    export LSAN_OPTIONS="suppressions=$IPCM_SUPP/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1:exitcode=86:suppressions=$IPCM_SUPP/ubsan.supp:print_suppressions=0"
    unset TSAN_OPTIONS
  else
    # die_after_fork=0: a process with threads that forks (the launcher's spawned peers start
    # with posix_spawn; the tests' own helpers may fork) must not be killed by TSan for it.
    export TSAN_OPTIONS="log_path=$logs/tsan:exitcode=66:halt_on_error=0:second_deadlock_stack=1:die_after_fork=0:suppressions=$IPCM_SUPP/tsan.supp:print_suppressions=0"
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
  fi
}

# ipcm_san_run asan|tsan LOGDIR command...: runs the command with the sanitizers' options;
# fails if it fails or if any sanitizer report was written. Its stderr is also kept (in
# LOGDIR.stderr) and searched for reports: UBSan running inside the ASan runtime (GCC 12)
# writes to stderr whatever log_path says. A peer whose stderr its parent reads still exits
# with status 86 (halt_on_error), which the parent reports as a failure.
ipcm_san_run() {
  local kind=$1 logs=$2 rc=0 f
  shift 2
  rm -rf "$logs" "$logs.stderr"
  mkdir -p "$logs"
  { (ipcm_san_env "$kind" "$logs"; exec "$@") 2>&1 1>&3 3>&- | tee "$logs.stderr" >&2; } 3>&1 || rc=$?
  local reports=("$logs"/*)
  if [[ -e ${reports[0]} ]]; then
    for f in "${reports[@]}"; do
      echo "=== sanitizer report: $f" >&2
      cat "$f" >&2
    done
    echo "test.sh: ${#reports[@]} sanitizer report(s) in $logs (command exited $rc)" >&2
    return 1
  fi
  if grep -Eq "runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer" "$logs.stderr"; then
    echo "test.sh: sanitizer report(s) on stderr (kept in $logs.stderr; command exited $rc)" >&2
    return 1
  fi
  ((rc == 0)) || { echo "test.sh: '$*' exited $rc" >&2; return "$rc"; }
}

ipcm_asan_stages() {
  ipcm_stage asan-build ipcm_build build-asan "${IPCM_SAN_FLAGS[@]}" -DIPCM_SANITIZE=address,undefined
  ipcm_stage asan-tests ipcm_san_run asan "$PWD/build-asan/sanitizer-logs/tests" \
    build-asan/tests/ipcmeter_tests --gtest_filter="$IPCM_ASAN_GTEST_FILTER" --gtest_brief=1
  ipcm_stage asan-smoke ipcm_san_run asan "$PWD/build-asan/sanitizer-logs/smoke" \
    /usr/bin/python3 tests/smoke_run.py build-asan/ipcmeter
}

ipcm_tsan_stages() {
  ipcm_stage tsan-build ipcm_build build-tsan "${IPCM_SAN_FLAGS[@]}" -DIPCM_SANITIZE=thread
  ipcm_stage tsan-tests ipcm_san_run tsan "$PWD/build-tsan/sanitizer-logs/tests" \
    build-tsan/tests/ipcmeter_tests --gtest_filter="$IPCM_TSAN_GTEST_FILTER" --gtest_brief=1
}
