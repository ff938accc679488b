#include "bench/py/py_parties.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "bench/py/py_rows.h"
#include "harness/core/limits.h"
#include "harness/launch/party.h"

namespace ipcm {
namespace {

// py_sync: quick none (quick's CPython rows are the messaging ones and the start methods, within
// the py_* share of its budget, and every quick row must be in the committed baseline); default
// every primitive x peer at two
// parties; full adds one party for the locks (the uncontended cost) and 1x, 2x the CPUs.
const ByProfile<PyPartiesSweep>& sync_sweeps() {
  static const ByProfile<PyPartiesSweep> s = {
      {"quick", {.what = {}, .peers = {}, .fixed = {}}},
      {"default", {.what = py_sync_primitives(), .peers = py_peers(), .fixed = {2}}},
      {"full", {.what = py_sync_primitives(), .peers = py_peers(), .fixed = {2}, .per_cpu = {1, 2}, .one_party = true}},
  };
  return s;
}

// py_state: quick none (as py_sync); default every
// access between forked and spawned workers, as many as CPUs; full every peer (threads: the
// GIL decides what Value_nolock loses) with one worker and 1x, 2x, 4x the CPUs.
const ByProfile<PyPartiesSweep>& state_sweeps() {
  static const ByProfile<PyPartiesSweep> s = {
      {"quick", {.what = {}, .peers = {}, .fixed = {}}},
      {"default", {.what = py_state_accesses(), .peers = {"fork", "spawn"}, .per_cpu = {1}}},
      {"full", {.what = py_state_accesses(), .peers = py_peers(), .per_cpu = {1, 2, 4}, .one_party = true}},
  };
  return s;
}

const char* family_word(PyPartiesFamily f) { return f == PyPartiesFamily::kSync ? "sync" : "state"; }

}  // namespace

const Words& py_sync_primitives() {
  static const Words w = {"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition", "Barrier"};
  return w;
}

const Words& py_state_accesses() {
  static const Words w = {"Value_lock", "Value_nolock", "Array_lock", "Manager_Value", "Manager_dict", "shared_memory"};
  return w;
}

bool py_sync_is_lock(const std::string& primitive) { return primitive == "Lock" || primitive == "RLock"; }

const PyPartiesSweep& py_parties_sweep(PyPartiesFamily f, const Profile& p) {
  return (f == PyPartiesFamily::kSync ? sync_sweeps() : state_sweeps()).of(p);
}

std::vector<int> py_party_counts(const PyPartiesSweep& sw, bool lock_or_state) {
  const int cpus = std::max(1, int(sysconf(_SC_NPROCESSORS_ONLN)));
  std::set<int> counts(sw.fixed.begin(), sw.fixed.end());
  for (int k : sw.per_cpu) counts.insert(std::min(kMaxParties, std::max(2, k * cpus)));
  if (sw.one_party && lock_or_state) counts.insert(1);
  return {counts.begin(), counts.end()};
}

nlohmann::json py_parties_section(PyPartiesFamily f, const Profile& p) {
  const PyPartiesSweep& sw = py_parties_sweep(f, p);
  const bool sync = f == PyPartiesFamily::kSync;
  return {{sync ? "primitive" : "access", sw.what},
          {"peer", sw.peers},
          {sync ? "parties_fixed" : "workers_fixed", sw.fixed},
          {sync ? "parties_per_cpu" : "workers_per_cpu", sw.per_cpu},
          {sync ? "lock_parties_one" : "one_worker", sw.one_party},
          {"warmup_rounds", kPyPartiesWarmup},
          {"min_rounds", kPyPartiesMinRounds},
          {"max_rounds", kPyPartiesMaxRounds}};
}

nlohmann::json py_sync_swept_primitives(const Profile& p) { return py_parties_sweep(PyPartiesFamily::kSync, p).what; }
nlohmann::json py_state_swept_accesses(const Profile& p) { return py_parties_sweep(PyPartiesFamily::kState, p).what; }
nlohmann::json py_sync_swept_peers(const Profile& p) { return py_parties_sweep(PyPartiesFamily::kSync, p).peers; }
nlohmann::json py_state_swept_peers(const Profile& p) { return py_parties_sweep(PyPartiesFamily::kState, p).peers; }

std::string PyPartiesRow::name() const {
  const bool sync = family == PyPartiesFamily::kSync;
  return std::string(sync ? "py_sync/primitive:" : "py_state/access:") + what + "/peer:" + peer +
         (sync ? "/parties:" : "/workers:") + std::to_string(parties) + "/python:" + python->key;
}

Made<DriverOutput> run_py_parties(const PyPartiesRow& row, double budget_s, const std::string& fault) {
  // The interpreter's own reasons (missing, not CPython, older than the driver needs).
  if (std::string why = py_why_not(PyFamily::kPingpong, "Pipe", row.peer, *row.python); !why.empty())
    return Made<DriverOutput>::Fail(why);
  const bool sync = row.family == PyPartiesFamily::kSync;
  nlohmann::json spec = {{"family", family_word(row.family)},
                         {sync ? "primitive" : "access", row.what},
                         {"peer", row.peer},
                         {"parties", row.parties},
                         {"warmup", kPyPartiesWarmup},
                         {"budget_ns", std::uint64_t(budget_s * 1e9)},
                         {"min_msgs", kPyPartiesMinRounds},
                         {"max_msgs", kPyPartiesMaxRounds}};
  if (!fault.empty()) spec["fault"] = fault;
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(peer_timeout()) +
                     std::chrono::milliseconds(std::int64_t(2e3 * budget_s)) + std::chrono::milliseconds(500 * row.parties);
  return run_driver(*row.python, std::move(spec), limit);
}

}  // namespace ipcm
