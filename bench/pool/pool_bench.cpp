// pool/executor:E/task_us:N/chunk:C — how small a task can be before handing it to a pool
// costs more than running it. Each job is `tasks` tasks of N µs of work each, handed out in
// chunks of C, to as many workers as there are CPUs. A task is a fixed number of busy-loop
// iterations (bench/pool/pool.h), calibrated once per run on the main thread's pinned CPU
// (median of kWorkWindows windows) so that it is N µs on an idle CPU; a worker that loses its
// CPU takes longer, as with real work. The executor (its threads or processes) is made before
// the timed jobs, as a program makes its Pool once; process_per_task alone starts a process
// per chunk inside the job, as that is its cost.
//
// overhead_ns_per_task = (wall − ideal) / tasks, with wall the mean job's time and ideal =
// tasks × task_us / workers, the job's work spread evenly over idle CPUs: everything the
// executor adds — dispatch, wake-ups, results, and the CPU it takes from the workers — per
// task. Fixed work can finish sooner than calibrated (the CPU ran faster than in the median
// calibration window); an overhead smaller than that error cannot be told from 0 and reads
// 0, and the signed figure is kept as wall_minus_ideal_ns_per_task. work_iters_per_us and
// work_rate_spread report the calibration. Every job's task sum is checked.
//
// TBB and fork: the process executors fork their workers, so they are registered (and run)
// before the TBB ones and refuse to fork if any other thread is alive; each TBB executor
// finalizes TBB's scheduler when it is destroyed, so TBB's threads do not outlive its row.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>

#include "bench/suite.h"
#include "harness/core/clock.h"
#include "bench/pool/pool.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

// What pool sweeps per profile: task lengths and chunks, and how long one job is.
struct PoolProfile {
  std::vector<std::uint32_t> task_us;
  std::vector<std::uint32_t> chunks;
  double job_ms;  // ideal length of one job
  std::int64_t jobs;
};
const ByProfile<PoolProfile> kPoolProfile = {
    {"quick", {.task_us = {1, 1000}, .chunks = {1, 16}, .job_ms = 8, .jobs = 3}},
    // default without chunk 4 (full has it): the profile's 10 minutes.
    {"default", {.task_us = {1, 10, 100, 1000, 10000}, .chunks = {1, 16, 64}, .job_ms = 15, .jobs = 5}},
    {"full", {.task_us = {1, 10, 100, 1000, 10000}, .chunks = {1, 2, 4, 8, 16, 32, 64}, .job_ms = 30, .jobs = 10}},
};

// A chunk longer than this is not swept: a pool with chunks of seconds answers nothing.
constexpr double kMaxChunkMs = 64;

// Enough tasks for the job to last job_ms ideally and for every worker to get a chunk;
// process_per_task is held to kMaxProcessChunks processes per job.
std::uint32_t tasks_for(Executor e, std::uint32_t task_us, std::uint32_t chunk, unsigned workers, double job_ms) {
  double t = std::max(job_ms * 1000.0 * workers / task_us, double(workers) * chunk);
  if (e == Executor::kProcessPerTask) t = std::min(t, double(kMaxProcessChunks) * chunk);
  // Whole rounds of one chunk per worker, so the ideal (an even split) is reachable.
  const double round = double(chunk) * workers;
  return std::uint32_t(std::max(1.0, std::floor(t / round)) * round);
}

// Once per run, before any row lets its workers loose: the main thread is still pinned.
const WorkRate& work_rate() {
  static const WorkRate rate = calibrate_work_rate();
  return rate;
}

void run(benchmark::State& state, Executor e, std::uint32_t task_us, std::uint32_t chunk, const PoolProfile& sw) {
  const WorkRate& rate = work_rate();
  if (!(rate.iters_per_us > 0)) return skip(state, "the busy loop could not be calibrated (no window was timed)");
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  const unsigned workers = std::max<unsigned>(1, unsigned(suite().placement.allowed_cpus.size()));
  PoolJob job;
  job.tasks = tasks_for(e, task_us, chunk, workers, sw.job_ms);
  job.chunk = chunk;
  job.task_iters = task_iterations(task_us, rate);
  std::string why;
  std::uint64_t sum = 0;
  double wall_ns = 0;
  std::int64_t jobs = 0;
  {
    Made<PoolExecutor> ex = make_executor(e, workers);
    if (!ex) return skip(state, ex.error);
    for (auto _ : state) {
      const std::uint64_t t0 = TickClock::now();
      Status st = ex.value->run(job, sum, why);
      const double ns = TickClock::get().to_ns(TickClock::now() - t0);
      if (!st) return skip(state, why);
      if (sum != expected_pool_sum(job.tasks)) return skip(state, "a task ran twice or not at all (sum check failed)");
      state.SetIterationTime(ns * 1e-9);
      wall_ns += ns;
      ++jobs;
    }
  }
  const double ideal_ns = double(job.tasks) * task_us * 1000.0 / workers;
  const double wall_minus_ideal_ns = (wall_ns / double(jobs) - ideal_ns) / job.tasks;
  state.counters["overhead_ns_per_task"] = std::max(0.0, wall_minus_ideal_ns);
  state.counters["wall_minus_ideal_ns_per_task"] = wall_minus_ideal_ns;
  state.counters["tasks"] = job.tasks;
  state.counters["workers"] = workers;
  state.counters["work_iters_per_us"] = rate.iters_per_us;
  state.counters["work_rate_spread"] = rate.spread;
}

void add_pool_benchmarks(const Profile& p, const Placement&) {
  const PoolProfile& sw = kPoolProfile.of(p);
  for (Executor e : kAllExecutors) {
    for (std::uint32_t us : sw.task_us) {
      for (std::uint32_t c : sw.chunks) {
        const std::string name = std::string("pool/executor:") + executor_name(e) + "/task_us:" +
                                 std::to_string(us) + "/chunk:" + std::to_string(c);
        const double chunk_ms = double(us) * c / 1000.0;
        if (chunk_ms > kMaxChunkMs) {
          // Listed with the reason rather than left out of the sweep without a word.
          const std::string why = "a chunk of " + std::to_string(std::lround(chunk_ms)) + " ms is over the " +
                                  std::to_string(std::lround(kMaxChunkMs)) +
                                  " ms this family sweeps: a pool with chunks that long answers nothing about its overhead";
          add_benchmark(name, [why](benchmark::State& st) { skip(st, why); }, true, 1);
          continue;
        }
        add_benchmark(name, [e, us, c, &sw](benchmark::State& st) { run(st, e, us, c, sw); }, true, sw.jobs)
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

nlohmann::json pool_section(const Profile& p) {
  const PoolProfile& sw = kPoolProfile.of(p);
  return {{"task_us", sw.task_us}, {"chunks", sw.chunks}, {"job_ms", sw.job_ms}, {"jobs", sw.jobs}};
}

FamilyDef pool_family() {
  return {.name = "pool",
          .keys = {{"executor", Unit::kName, [] { return words_of(kAllExecutors, executor_name); }},
                   {"task_us", Unit::kUs, nullptr, [](const Profile& p) { return nlohmann::json(kPoolProfile.of(p).task_us); }},
                   {"chunk", Unit::kCount, nullptr, [](const Profile& p) { return nlohmann::json(kPoolProfile.of(p).chunks); }}},
          .counters = {{"overhead_ns_per_task", Unit::kNs, kLow, true, true},
                       {"wall_minus_ideal_ns_per_task", Unit::kNs, kLow, false, false},
                       {"tasks", Unit::kCount, kFact, false, false},
                       {"workers", Unit::kCount, kFact, false, false},
                       {"work_iters_per_us", Unit::kPerUs, kFact, false, false},
                       {"work_rate_spread", Unit::kRatio, kFact, false, false}},
          .repeated_by_profile = true,
          .profile_section = pool_section,
          .add_benchmarks = add_pool_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(pool_family);

}  // namespace ipcm
