// The pool family's executors: how tasks of a known length reach N workers. Each executor is
// made (its workers started) before the timed region and runs jobs: `tasks` tasks of
// `task_iters` iterations of busy work each, handed out in chunks of `chunk`. Every task adds
// (its index + 1) to a sum that the executor returns, so the caller can check that every task
// ran exactly once.
//
// A task is a fixed amount of work, not a wait for a deadline: a worker that loses its CPU
// (to the pipe pool's parent, to process_per_task's forks, to anything else) finishes its
// task that much later, so an executor that takes CPU from its workers pays for it in the
// job's wall time. The work is busy_loop (harness/core/clock.h), calibrated once per run into
// iterations per µs, so task_us:N means N µs of work on an idle CPU.
//
// Fork safety: the process executors fork their workers, and process_per_task forks during
// the job; each refuses (with the reason) when other threads are alive. The TBB executors
// take a task_scheduler_handle before their arena exists and finalize it when destroyed, so
// TBB's worker threads are gone again afterwards and a later fork stays safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/name_table.h"
#include "harness/core/status.h"

namespace ipcm {

enum class Executor { kTbbTaskGroup, kTbbParallelFor, kThreadPool, kProcessPoolShm, kProcessPoolPipe, kProcessPerTask };
// Process executors first: they are made while the process is still single-threaded.
inline constexpr auto kExecutorNames = name_table<Executor>({
    {Executor::kProcessPoolShm, "process_pool_shm"},
    {Executor::kProcessPoolPipe, "process_pool_pipe"},
    {Executor::kProcessPerTask, "process_per_task"},
    {Executor::kThreadPool, "thread_pool"},
    {Executor::kTbbTaskGroup, "tbb_task_group"},
    {Executor::kTbbParallelFor, "tbb_parallel_for"},
});
static_assert(kExecutorNames.well_formed());
inline constexpr const auto& kAllExecutors = kExecutorNames.values();
inline const char* executor_name(Executor e) { return kExecutorNames.name(e); }
inline std::optional<Executor> parse_executor(std::string_view s) { return kExecutorNames.parse(s); }

struct PoolJob {
  std::uint32_t tasks = 0;
  std::uint32_t chunk = 1;
  std::uint64_t task_iters = 0;  // busy_loop iterations of each task
};

// How fast this CPU runs busy_loop: the median over timed windows, so a window in which the
// thread lost its CPU (it looks slow) or the clock was read late does not set the rate.
struct WorkRate {
  double iters_per_us = 0;
  double spread = 0;  // (fastest window − slowest) / median: how steady the CPU was
};
inline constexpr int kWorkWindows = 9;
inline constexpr double kWorkWindowUs = 2000;
// The calibration's arithmetic, from each window's iterations per µs (none: rate 0).
WorkRate work_rate_of(std::vector<double> iters_per_us_by_window);
// Times kWorkWindows windows of about kWorkWindowUs on the calling thread's CPU; pin it first.
WorkRate calibrate_work_rate();
// The iterations that are `task_us` µs of work at `rate` (at least 1).
std::uint64_t task_iterations(double task_us, const WorkRate& rate);
// The sum a correct run of `tasks` tasks returns.
inline std::uint64_t expected_pool_sum(std::uint32_t tasks) { return std::uint64_t(tasks) * (tasks + 1) / 2; }

// The most chunks process_per_task starts in one job (each is a process).
inline constexpr std::uint32_t kMaxProcessChunks = 64;

class PoolExecutor {
 public:
  virtual ~PoolExecutor() = default;
  // Runs every task of the job and returns when all are done; `sum` as described above.
  virtual Status run(const PoolJob& job, std::uint64_t& sum, std::string& why) noexcept = 0;
};

// Starts an executor with `workers` workers; refused for 0 workers or too many, and for a
// fork-based executor when the caller has other threads.
Made<PoolExecutor> make_executor(Executor e, unsigned workers);
Made<PoolExecutor> make_executor(std::string_view name, unsigned workers);

}  // namespace ipcm
