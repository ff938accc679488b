// Worker processes and threads for the spawn, compute and pool families: starting a copy of
// this binary in a worker role, forking a child that runs a function, reaping with a time
// limit, the CPU set workers may use, a shared-memory segment workers map, and the test that
// makes fork safe (no other thread of ours alive to hold a lock the child would inherit).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/shm_segment.h"
#include "harness/status.h"

namespace ipcm {

// argv[1] of a copy of this binary started as a worker; argv[2] names the role.
inline constexpr const char* kWorkerFlag = "--ipcmeter-worker";

// The worker roles' entry point, called from peer_main_if_requested; never returns.
[[noreturn]] void worker_role_main(int argc, char** argv);

// Threads alive in this process now (entries of /proc/self/task).
int thread_count();
// "" when this process may fork (it is single-threaded), else the sentence why not.
std::string fork_unsafe_reason();

// Sets the calling thread's CPU mask for a scope and restores it after: threads, TBB workers
// and children started inside inherit the mask. ipcmeter pins its main thread to one CPU for
// the transfer families; workers must be free to use every allowed CPU.
class ScopedAffinity {
 public:
  explicit ScopedAffinity(const std::vector<int>& cpus);
  ~ScopedAffinity();
  ScopedAffinity(const ScopedAffinity&) = delete;
  ScopedAffinity& operator=(const ScopedAffinity&) = delete;

 private:
  std::vector<int> saved_;
};

// Starts this binary as `kWorkerFlag args...` with posix_spawn. Descriptors in `inherit` are
// passed at the same numbers; everything else close-on-exec stays closed. The child is
// record_child'ed. Returns the pid, or -1 with `err` set.
pid_t spawn_worker(const std::vector<std::string>& args, const std::vector<int>& inherit, std::string& err);

// Forks a child that dies with its parent and runs fn, exiting with its return value. The
// caller must have checked fork_unsafe_reason(). record_child'ed. -1 with `err` on failure.
pid_t fork_worker(const std::function<int()>& fn, std::string& err);

// Waits for each child (killing any still alive after `limit`), forgets it, and clears the
// vector. An error when any child did not exit with status 0, naming how it ended.
Status reap_workers(std::vector<pid_t>& pids, std::chrono::milliseconds limit, std::string& why);
// Kills and reaps every child in pids (error paths).
void kill_workers(std::vector<pid_t>& pids) noexcept;
// True when no child of this process is left unreaped.
bool no_children_left();

// Process-shared futex on a 32-bit word, with a time limit and a wake of every waiter.
// Returns 0 when woken or the word differed, -1 with errno ETIMEDOUT/EINTR otherwise.
int futex_wait_for(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::chrono::nanoseconds limit) noexcept;
void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept;

// In a worker: die when the parent dies (PR_SET_PDEATHSIG, SIGKILL).
void prctl_die_with_parent() noexcept;

// Parses a decimal argument of a worker role; false if malformed.
bool parse_u64(const char* s, std::uint64_t& out);

}  // namespace ipcm
