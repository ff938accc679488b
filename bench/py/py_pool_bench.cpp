// py_pool/executor:E/peer:P/task_us:T/chunk:C/python:V — how small a task can be before
// handing it to one of CPython's pools costs more than running it: the native pool family's
// question (bench/pool/pool_bench.cpp), asked of multiprocessing.Pool (E = Pool_map: map with
// chunksize C; Pool_imap: imap with chunksize C; Pool_apply_async: one apply_async per task),
// concurrent.futures.ProcessPoolExecutor (map with chunksize C) and ThreadPoolExecutor (map).
// P is the pool's start method (fork, spawn, forkserver); peer:thread is the threads' form:
// multiprocessing.pool.ThreadPool for the Pool_* executors, ThreadPoolExecutor. The pool has
// as many workers as ipcmeter's allowed CPUs and is made before the timed jobs (one untimed
// warm-up job starts and imports everything), as a program makes its pool once.
//
// A task is fixed work: iterations of the driver's pure-Python loop, calibrated once per
// interpreter so that T µs is T µs of that interpreter's work on an idle CPU (a task that loses
// its CPU — to the pool's feeder threads, to the GIL — takes longer, as real work does). Each
// job is `tasks` tasks, whole rounds of C tasks per worker, long enough to last job_ms ideally
// (at most kMaxPyTasks). Every job's results are checked outside its clock reads: each task's
// exact answer, in its place. Counters as the native pool's, made by the same arithmetic:
// overhead_ns_per_task = (mean job wall − tasks × T / workers) / tasks, 0 when below zero, the
// signed figure in wall_minus_ideal_ns_per_task. With the GIL, a thread pool's workers take
// turns: its overhead includes the work the GIL kept from running in parallel.
//
// Combinations that cannot run are listed with the reason: ThreadPoolExecutor with a start
// method, ProcessPoolExecutor with peer:thread, chunk > 1 for Pool_apply_async and
// ThreadPoolExecutor (neither has a chunksize), and chunks of more than kMaxChunkMs of work.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>

#include "bench/py/py_work.h"
#include "bench/suite.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

const Words kExecutors = {"Pool_map", "Pool_imap", "Pool_apply_async", "ProcessPoolExecutor", "ThreadPoolExecutor"};
const Words kPeers = {"thread", "fork", "spawn", "forkserver"};

struct PyPoolProfile {
  Words executors, peers;
  std::vector<std::uint32_t> task_us;
  std::vector<std::uint32_t> chunks;
  double job_ms;  // ideal length of one job
  std::uint64_t min_jobs, max_jobs;
};
// quick: none (the quick baseline, results/baselines/reference-quick.json, covers every quick row);
// default: every executor and peer at two task lengths (10 and 1000 us), chunks 1 and 16; full: the native
// pool's task lengths and chunks.
const ByProfile<PyPoolProfile> kProfile = {
    {"quick", {.executors = {}, .peers = {}, .task_us = {}, .chunks = {}, .job_ms = 8, .min_jobs = 2, .max_jobs = 100}},
    {"default", {.executors = kExecutors, .peers = kPeers, .task_us = {10, 1000}, .chunks = {1, 16}, .job_ms = 15, .min_jobs = 3,
                 .max_jobs = 1000}},
    {"full", {.executors = kExecutors, .peers = kPeers, .task_us = {1, 10, 100, 1000, 10000}, .chunks = {1, 4, 16, 64}, .job_ms = 30,
              .min_jobs = 5, .max_jobs = 1000}},
};

// As the native pool: a chunk longer than this answers nothing about a pool's overhead.
constexpr double kMaxChunkMs = 64;
// A job of more tasks than this only takes longer (an interpreter hands out some 10^4 tasks/s).
constexpr std::uint32_t kMaxPyTasks = 1024;

std::string why_not(const std::string& e, const std::string& peer, std::uint32_t task_us, std::uint32_t chunk) {
  // The driver refuses the same combinations with the same words (pool_why_not).
  if (e == "ThreadPoolExecutor" && peer != "thread")
    return "ThreadPoolExecutor runs threads: peer:" + peer + " is a start method (ProcessPoolExecutor is its process form)";
  if (e == "ProcessPoolExecutor" && peer == "thread") return "ProcessPoolExecutor runs processes: its thread form is ThreadPoolExecutor";
  if (chunk != 1 && (e == "Pool_apply_async" || e == "ThreadPoolExecutor"))
    return e + " hands out one task per call and has no chunksize: only chunk:1 runs";
  if (const double chunk_ms = double(task_us) * chunk / 1000.0; chunk_ms > kMaxChunkMs)
    return "a chunk of " + std::to_string(std::lround(chunk_ms)) + " ms is over the " + std::to_string(std::lround(kMaxChunkMs)) +
           " ms this family sweeps: a pool with chunks that long answers nothing about its overhead";
  return "";
}

// Enough tasks for the job to last job_ms ideally and for every worker to get a chunk, in whole
// rounds of one chunk per worker (so the ideal, an even split, is reachable).
std::uint32_t tasks_for(std::uint32_t task_us, std::uint32_t chunk, unsigned workers, double job_ms) {
  const double round = double(chunk) * workers;
  const double t = std::min(std::max(job_ms * 1000.0 * workers / task_us, round), std::max(double(kMaxPyTasks), round));
  return std::uint32_t(std::max(1.0, std::floor(t / round)) * round);
}

void run(benchmark::State& state, const std::string& e, const std::string& peer, std::uint32_t task_us,
         std::uint32_t chunk, const PythonInterp& py, const PyPoolProfile& sw) {
  ScopedAffinity free_cpus(suite().placement.allowed_cpus);
  if (std::string why = py_work_why_not(py); !why.empty()) return skip(state, why);
  const PyWorkRate& rate = py_work_rate(py);
  if (!rate.error.empty()) return skip(state, rate.error);
  const unsigned workers = std::max<unsigned>(1, unsigned(suite().placement.allowed_cpus.size()));
  const std::uint32_t tasks = tasks_for(task_us, chunk, workers, sw.job_ms);
  const nlohmann::json spec = {{"family", "pool"},
                               {"executor", e},
                               {"peer", peer},
                               {"workers", workers},
                               {"tasks", tasks},
                               {"chunk", chunk},
                               {"task_iters", task_iterations(task_us, rate.rate)},
                               {"min_jobs", sw.min_jobs},
                               {"max_jobs", sw.max_jobs},
                               {"job_timeout_s", py_work_step_timeout_s()}};
  Made<DriverOutput> out;
  for (auto _ : state) out = run_py_work(py, spec, python_min_time(suite().profile->min_time_s));
  if (!out) return skip(state, out.error);
  const std::vector<std::int64_t>& jobs = out.value->samples;
  if (jobs.empty()) return skip(state, "the Python driver timed no job");
  double wall_ns = 0;
  for (std::int64_t ns : jobs) wall_ns += double(ns);
  const double mean_ns = wall_ns / double(jobs.size());
  state.SetIterationTime(mean_ns * 1e-9);
  const double ideal_ns = double(tasks) * task_us * 1000.0 / workers;
  const double wall_minus_ideal_ns = (mean_ns - ideal_ns) / tasks;
  auto& c = state.counters;
  c["overhead_ns_per_task"] = std::max(0.0, wall_minus_ideal_ns);
  c["wall_minus_ideal_ns_per_task"] = wall_minus_ideal_ns;
  c["tasks"] = tasks;
  c["workers"] = workers;
  c["jobs"] = double(jobs.size());
  c["work_iters_per_us"] = rate.rate.iters_per_us;
  c["work_rate_spread"] = rate.rate.spread;
}

void add(const Profile& p, const Placement&) {
  const PyPoolProfile& sw = kProfile.of(p);
  for (const PythonInterp& py : python_interpreters())
    for (const std::string& e : sw.executors)
      for (const std::string& peer : sw.peers)
        for (std::uint32_t us : sw.task_us)
          for (std::uint32_t c : sw.chunks) {
            const std::string name = "py_pool/executor:" + e + "/peer:" + peer + "/task_us:" + std::to_string(us) +
                                     "/chunk:" + std::to_string(c) + "/python:" + py.key;
            if (std::string why = why_not(e, peer, us, c); !why.empty()) {
              add_benchmark(name, [why](benchmark::State& st) { skip(st, why); }, true, 1);
              continue;
            }
            add_benchmark(name, [e, peer, us, c, &py, &sw](benchmark::State& st) { run(st, e, peer, us, c, py, sw); }, true, 1)
                ->Unit(benchmark::kMillisecond);
          }
}

FamilyDef py_pool_family() {
  return {.name = "py_pool",
          .keys = {{"executor", Unit::kName, [] { return kExecutors; }, [](const Profile& p) { return nlohmann::json(kProfile.of(p).executors); }},
                   {"peer", Unit::kName, [] { return kPeers; }, [](const Profile& p) { return nlohmann::json(kProfile.of(p).peers); }},
                   {"task_us", Unit::kUs, nullptr, [](const Profile& p) { return nlohmann::json(kProfile.of(p).task_us); }},
                   {"chunk", Unit::kCount, nullptr, [](const Profile& p) { return nlohmann::json(kProfile.of(p).chunks); }},
                   {"python", Unit::kName, nullptr, [](const Profile&) { return nlohmann::json(nullptr); }}},
          .counters = {{"overhead_ns_per_task", Unit::kNs, kLow, true, true},
                       {"wall_minus_ideal_ns_per_task", Unit::kNs, kLow, false, false},
                       {"tasks", Unit::kCount, kFact, false, false},
                       {"workers", Unit::kCount, kFact, false, false},
                       {"jobs", Unit::kCount, kFact, false, false},
                       {"work_iters_per_us", Unit::kPerUs, kFact, false, false},
                       {"work_rate_spread", Unit::kRatio, kFact, false, false}},
          // The report answers "what chunksize" from Pool.map's rows; the other executors fill its table.
          .repeated_by_profile = true,
          .repeated_where = FamilyDef::RepeatedWhere{"executor", {"Pool_map"}},
          .profile_section = [](const Profile& p) {
            const PyPoolProfile& sw = kProfile.of(p);
            return nlohmann::json{{"executor", sw.executors}, {"peer", sw.peers}, {"task_us", sw.task_us}, {"chunks", sw.chunks},
                                  {"job_ms", sw.job_ms},      {"min_jobs", sw.min_jobs}, {"max_jobs", sw.max_jobs},
                                  {"max_tasks", kMaxPyTasks}};
          },
          .add_benchmarks = add};
}

}  // namespace

static const FamilyRegistrar kRegistrar(py_pool_family);

}  // namespace ipcm
