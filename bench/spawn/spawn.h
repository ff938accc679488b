// Starting one worker by each method users have, timed two ways: ready (asked → the worker's
// first message reached the parent) and lifecycle (asked → the worker exited and was reaped
// or joined). The worker is minimal: its first message is one byte on a pipe, then it exits.
// Methods that run a program exec one of two targets, as separate methods so that a name
// never changes what it measures:
//  - vfork, posix_spawn, fork_exec exec the tiny static exec helper (bench/exec_helper),
//    found beside this binary: the price of the start mechanism itself;
//  - vfork_self, posix_spawn_self, fork_exec_self exec this binary in the "hello" worker
//    role, which writes its byte before doing anything else: the mechanism plus loading
//    ipcmeter's ~2 MB C++ image, as a program that re-launches itself pays.
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/name_table.h"
#include "harness/core/status.h"

namespace ipcm {

enum class StartMethod {
  kThread, kFork, kVfork, kPosixSpawn, kForkExec, kForkserver,
  kVforkSelf, kPosixSpawnSelf, kForkExecSelf,
};
inline constexpr auto kStartMethodNames = name_table<StartMethod>({
    {StartMethod::kThread, "thread"},
    {StartMethod::kFork, "fork"},
    {StartMethod::kVfork, "vfork"},
    {StartMethod::kPosixSpawn, "posix_spawn"},
    {StartMethod::kForkExec, "fork_exec"},
    {StartMethod::kForkserver, "forkserver"},
    {StartMethod::kVforkSelf, "vfork_self"},
    {StartMethod::kPosixSpawnSelf, "posix_spawn_self"},
    {StartMethod::kForkExecSelf, "fork_exec_self"},
});
static_assert(kStartMethodNames.well_formed());
inline constexpr const auto& kAllStartMethods = kStartMethodNames.values();
inline const char* start_method_name(StartMethod m) { return kStartMethodNames.name(m); }
inline std::optional<StartMethod> parse_start_method(std::string_view s) { return kStartMethodNames.parse(s); }
// Methods that copy the caller's address space (their cost grows with its size) and must
// only be used from a single-threaded caller.
bool start_method_forks_caller(StartMethod m);

// What a method execs: nothing (thread, fork, forkserver), the exec helper, or this binary.
enum class ExecTarget { kNone, kHelper, kSelf };
ExecTarget exec_target(StartMethod m);

// The exec helper's path in `dir`; without `dir`, beside this binary (the directory of
// /proc/self/exe), where the build puts it.
std::string exec_helper_path();
std::string exec_helper_path(const std::string& dir);
// "" when the helper at `path` can be executed, else the sentence why not.
std::string exec_helper_refusal(const std::string& path);

struct StartSample {
  std::uint64_t ready_ns = 0;
  std::uint64_t lifecycle_ns = 0;
};

class Starter {
 public:
  // Prepares everything a start needs (pipe, argv, spawn attributes, the fork server) so
  // that a start allocates nothing of the harness's own. Refuses a fork-based method when
  // the caller has other threads, and a helper method when the helper at `helper` (by
  // default exec_helper_path()) is missing.
  static Made<Starter> make(StartMethod m);
  static Made<Starter> make(StartMethod m, const std::string& helper);
  static Made<Starter> make(std::string_view method_name);
  ~Starter();
  Starter(const Starter&) = delete;
  Starter& operator=(const Starter&) = delete;

  // One start, waited for to the end. On failure `why` says what happened.
  Status start_once(StartSample& out, std::string& why) noexcept;
  StartMethod method() const noexcept { return m_; }

 private:
  Starter() = default;
  Status finish_process(pid_t pid, std::uint64_t t0, StartSample& out, std::string& why) noexcept;
  StartMethod m_ = StartMethod::kThread;
  int ready_r_ = -1, ready_w_ = -1;
  std::vector<std::string> argv_;
  std::vector<char*> cargv_;
  posix_spawn_file_actions_t fa_{};
  posix_spawnattr_t attr_{};
  bool spawn_ready_ = false;
};

// The launcher role the *_self methods exec: writes one byte on the descriptor named in its
// argument, exits.
inline constexpr const char* kHelloRole = "hello";

}  // namespace ipcm
