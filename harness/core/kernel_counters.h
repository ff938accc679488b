// What the kernel counted for the two sides of a link over one timed interval: context
// switches (and their voluntary/involuntary split), CPU migrations, page faults, system calls,
// and, where the machine exposes a PMU, cycles, instructions and cache misses.
//
// Sources, best first. perf_event_open software events count per thread and work inside VMs
// whose hosts hide the hardware counters; the raw_syscalls:sys_enter tracepoint counts system
// calls (it needs tracefs to learn the tracepoint's id). Where perf_event_open is refused
// (kernel.perf_event_paranoid >= 2 for a user without CAP_PERFMON: software events are counted
// in kernel context, which such a user may not see), switches and faults come from the
// kernel's own per-thread tallies in /proc (what getrusage reads, but readable for a peer
// process too), and migrations from /proc/<pid>/task/<tid>/sched where the kernel has it. The
// voluntary/involuntary split always comes from /proc: no software event makes it.
//
// A counter no source can give is absent, never zero, with one sentence saying why.
//
// Nothing here runs inside a timed loop: start() and stop() bracket it. start() reads /proc
// before it enables the events and stop() disables them before it reads /proc again, so
// those reads are not counted; the one system call counted on the measuring thread is the
// disable itself (one per interval, against thousands of messages).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ipcm {

enum class KCounter {
  kCtxSwitches,
  kVoluntarySwitches,
  kInvoluntarySwitches,
  kCpuMigrations,
  kPageFaults,
  kSyscalls,
  kCycles,
  kInstructions,
  kCacheMisses,
};
inline constexpr std::size_t kNumKCounters = 9;
inline constexpr KCounter kAllKCounters[kNumKCounters] = {
    KCounter::kCtxSwitches, KCounter::kVoluntarySwitches, KCounter::kInvoluntarySwitches,
    KCounter::kCpuMigrations, KCounter::kPageFaults, KCounter::kSyscalls,
    KCounter::kCycles, KCounter::kInstructions, KCounter::kCacheMisses};

// The row's counter for one event per message: "ctx_switches_per_msg", ...
const char* kcounter_per_msg_name(KCounter c);

// One thread of a side: its process and its thread id (a process's main thread has tid == pid).
struct TaskRef {
  pid_t pid = -1;
  pid_t tid = -1;
};
TaskRef this_thread_task() noexcept;
// Every thread of a process as it is now (a process peer is counted over all of them).
std::vector<TaskRef> tasks_of_process(pid_t pid);

// Counts over one interval, summed over every task given; absent where no source could count.
using KernelCounts = std::array<std::optional<std::uint64_t>, kNumKCounters>;

// The row's counters: each present count divided by `messages`. Absent counts stay absent,
// and nothing is given for zero messages.
std::vector<std::pair<const char*, double>> per_message(const KernelCounts& counts, std::uint64_t messages);

class KernelCounters {
 public:
  // Opens the events, disabled, for these tasks. Never fails: what cannot be opened is absent.
  explicit KernelCounters(std::vector<TaskRef> tasks);
  ~KernelCounters();
  KernelCounters(const KernelCounters&) = delete;
  KernelCounters& operator=(const KernelCounters&) = delete;

  // Brackets the interval (see the file comment for what each does first).
  void start();
  void stop();

  // The counts between start() and stop(): a counter is present only when it was counted for
  // every task. Also records, once per process, why each absent counter is absent.
  KernelCounts counts();
  // "" when present; otherwise the sentence.
  const std::string& why_absent(KCounter c) const { return why_[std::size_t(c)]; }
  // Where a present counter came from: "perf_event_open" or "/proc".
  const std::string& source(KCounter c) const { return source_[std::size_t(c)]; }
  // counts() without recording anything for the results file or stderr (a probe).
  KernelCounts tally();

 private:
  struct TaskEvents;  // one task's perf events
  struct ProcSnapshot;
  std::vector<TaskEvents*> own_last() const;
  std::vector<TaskRef> tasks_;
  std::vector<std::unique_ptr<TaskEvents>> groups_;  // one per task, in the order of tasks_
  std::vector<TaskEvents*> order_;                    // start()'s enabling order, for stop()
  std::vector<ProcSnapshot> proc_before_, proc_after_;
  std::array<std::string, kNumKCounters> why_, source_;
};

// For the results file (ipcmeter.kernel_counters): each counter's availability and the
// sentence for an absent one, as the rows so far found it (a probe of this thread when none
// has run), with kernel.perf_event_paranoid and the syscall tracepoint's id.
//
// The first time a row lacks a counter the contract names (switches, migrations, faults,
// syscalls), one line on stderr says so. Not an ipcmeter.warnings entry: those mark a run
// noisy, and a kernel that will not count is a fact of the machine, not noise.
nlohmann::json kernel_counters_json();

}  // namespace ipcm
