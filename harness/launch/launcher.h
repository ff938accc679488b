// The one launcher: starts "a party running role R with arguments A" as a thread, a forked
// child or a spawned copy of this binary (the mechanism comes from the peer kind's row in
// harness/launch/peer_kind.h), and outside programs (a helper, an interpreter, a daemon), all with
// the same hygiene:
//  - explicit argv, never a shell string; the child keeps exactly stdio and the descriptors
//    it is given, at the same numbers (stderr optionally replaced);
//  - the signals the parent handles back at their defaults, nothing blocked;
//  - death with the parent (PR_SET_PDEATHSIG) and a parent check right after, for the window
//    before the death signal was armed;
//  - recorded with record_child (the interrupt handler kills what is recorded), watched
//    without reaping (waitid WNOWAIT), reaped within a time limit after which it is killed.
//
// Roles: a copy of this binary is started as
//     <self> --ipcmeter-peer <role> parent=<pid> ns_per_tick=<t> <the role's own arguments...>
// (--ipcmeter-peer and parent=<pid> are what the fault suite looks for in /proc/*/cmdline).
// Roles register themselves with IPCM_REGISTER_ROLE beside their code; the harness is an
// OBJECT library so that no registration is dropped by the linker. run_role_if_requested,
// the first line of main() in every binary, is the one dispatch.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "harness/launch/peer_kind.h"
#include "harness/core/status.h"

namespace ipcm {

// Every party's exit codes (a process's status, a thread's return); the parent turns them
// into sentences.
enum PeerExit : int {
  kPeerOk = 0,
  kPeerUsage = 2,
  kPeerAttachFailed = 3,
  kPeerChannelFailed = 4,
  kPeerMessageBad = 5,
  kPeerOrphaned = 6,
};
const char* peer_exit_meaning(int code);

// argv[1] of every copy of this binary started in a role.
inline constexpr const char* kRoleFlag = "--ipcmeter-peer";

// A role's entry: its own arguments (after the launcher's), in a fresh copy or a forked
// child that already has the launcher's hygiene. Returns the exit code (a PeerExit).
using RoleMain = int (*)(int argc, char** argv);

struct RoleRegistrar {
  RoleRegistrar(std::string_view name, RoleMain main);
};
#define IPCM_ROLE_CONCAT2(a, b) a##b
#define IPCM_ROLE_CONCAT(a, b) IPCM_ROLE_CONCAT2(a, b)
#define IPCM_REGISTER_ROLE(name, fn) \
  static const ::ipcm::RoleRegistrar IPCM_ROLE_CONCAT(ipcm_role_, __LINE__)(name, fn)

// The registered entry of `name`, or nullptr.
RoleMain find_role(std::string_view name);

// If argv asks for a role, runs it with the launcher's hygiene and never returns; otherwise
// returns. Call first thing in main() of every binary that may be started in a role.
void run_role_if_requested(int argc, char** argv);

// The full argv that starts this binary in `role` with `args`: written once, here.
std::vector<std::string> role_argv(std::string_view role, const std::vector<std::string>& args);

// The path this binary was started from, for starting copies of it.
const std::string& self_exe();

struct LaunchSpec {
  // A registered role: what a spawned copy runs, and a forked party without a body. With a
  // body and a kind that never spawns (the pools fork by definition) it only names the party.
  std::string role;
  std::vector<std::string> args;  // the role's own arguments
  // What a thread party runs, and a forked one when set (it then shares the parent's memory
  // as it was at the fork, and need not parse arguments). A forked party without a body runs
  // the role's entry over the same argv a spawned copy gets. Returns the exit code.
  std::function<int()> body;
  std::vector<int> inherit;  // descriptors a process party keeps, at the same numbers
  int stderr_fd = -1;        // the process party's stderr, when >= 0
};

// One started party: a process (pid > 0) or a thread.
struct Launched {
  pid_t pid = -1;
  std::thread thread;
  explicit operator bool() const noexcept { return pid > 0 || thread.joinable(); }
};

// Starts a party of kind `k`. A process party is record_child'ed; the caller reaps it (or
// kills it) with the functions below. Empty with `err` set when it could not start.
Launched launch(PeerKind k, LaunchSpec spec, std::string& err);

// Starts an outside program (argv[0] is what it sees as its name) with the same hygiene.
// Its own code cannot arm the death signal, so the launcher does it between fork and exec,
// doing only what is async-signal-safe there. -1 with `err` set on failure.
// stdout_to_stderr: its stdout goes where its stderr goes (a daemon that talks on stdout, such
// as iceoryx's RouDi, kept off ipcmeter's own output).
pid_t launch_program(const std::string& path, const std::vector<std::string>& argv, const std::vector<int>& inherit,
                     int stderr_fd, std::string& err, bool stdout_to_stderr = false);

// The wait status of a child that has ended, without reaping it (the reaper still owns it).
std::optional<int> ended_status(pid_t pid) noexcept;
// "exited with status 3 (could not attach to the link)", "was killed by signal Killed", ...
std::string describe_wait_status(int status);

// Waits for `pid` until `until`, then kills it and waits for it (SIGKILL ends a stopped
// process too, so that wait is bounded); forgets it. False when it had to be killed.
bool reap_child(pid_t pid, std::chrono::steady_clock::time_point until, int& status) noexcept;
// Reaps every child in pids within `limit` (killing any still alive) and clears the vector.
// An error when any child did not exit with status 0, naming how it ended.
Status reap_children(std::vector<pid_t>& pids, std::chrono::milliseconds limit, std::string& why);
// Kills and reaps every child in pids (error paths).
void kill_children(std::vector<pid_t>& pids) noexcept;
// Reaps `pid` if it has ended (and forgets it), returning its wait status; never waits.
std::optional<int> try_reap(pid_t pid) noexcept;
// True when no child of this process is left, not even a zombie, but the run's daemon.
bool no_children_left();
// A child that serves every row of the run and is stopped at its end (iceoryx's RouDi,
// harness/transports/roudi.h): no_children_left() does not count it. 0 when there is none.
void set_run_daemon(pid_t pid) noexcept;

// Installs the no-op SIGUSR1 handler (without SA_RESTART) that lets a watchdog interrupt
// blocking calls, and ignores SIGPIPE so a vanished peer reads as EPIPE.
void install_peer_signals();

}  // namespace ipcm
