// state/access:A/peer:P/workers:N — a shared counter and array updated by N workers under a
// lock, with atomics, as packed or padded per-worker counters, or through a Manager server
// process's proxy (bench/state/state.h). The final values are checked exactly: a wrong
// count is an error for that benchmark, never a number.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "bench/suite.h"
#include "harness/launch/party.h"
#include "bench/state/state.h"

namespace ipcm {
namespace {

// What state sweeps per profile: peers and worker counts. spawn shares the same memory the same
// way as fork once started: full only.
struct StateProfile {
  std::vector<PeerKind> peers;
  std::vector<int> workers_per_cpu;  // multiples of the CPUs; 2 workers are always run
  bool one_worker;
};
constexpr PeerKind kThread = PeerKind::kThread, kFork = PeerKind::kFork;
const ByProfile<StateProfile> kStateProfile = {
    {"quick", {.peers = {kThread, kFork}, .workers_per_cpu = {}, .one_worker = false}},
    {"default", {.peers = {kThread, kFork}, .workers_per_cpu = {2}, .one_worker = true}},
    {"full", {.peers = every_peer(), .workers_per_cpu = {1, 2, 4}, .one_worker = true}},
};

// Fewer ops than this and the gate and the finish dominate the run.
constexpr std::uint64_t kMinStateOps = 1024;

void run(benchmark::State& state, StatePlan plan) {
  plan.ops = std::max<std::uint64_t>(std::uint64_t(state.max_iterations), kMinStateOps);
  while (state.KeepRunningBatch(benchmark::IterationCount(plan.ops))) {
    StateResult r = run_state(plan);
    if (!r.error.empty()) {
      skip(state, r.error);
      break;
    }
    state.SetIterationTime(r.seconds);
    auto& c = state.counters;
    c["ops_per_second"] = r.seconds > 0 ? double(r.ops) / r.seconds : 0;
    c["ns_per_op"] = r.ops > 0 ? r.seconds * 1e9 / double(r.ops) : 0;
    if (plan.access == Access::kProxy) c["requests_per_op"] = kProxyRequestsPerOp;
  }
}

void add_state_benchmarks(const Profile& p, const Placement&) {
  const StateProfile& sw = kStateProfile.of(p);
  const int cpus = std::max(1, int(sysconf(_SC_NPROCESSORS_ONLN)));
  std::set<int> counts = {2};
  if (sw.one_worker) counts.insert(1);
  for (int k : sw.workers_per_cpu) counts.insert(std::min(kMaxParties, std::max(2, k * cpus)));
  for (Access a : kAllAccesses) {
    for (PeerKind peer : sw.peers) {
      for (int n : counts) {
        StatePlan plan;
        plan.access = a;
        plan.peer = peer;
        plan.workers = n;
        const std::string name = std::string("state/access:") + access_name(a) + "/peer:" + peer_name(peer) +
                                 "/workers:" + std::to_string(n);
        add_benchmark(name, [plan](benchmark::State& st) { run(st, plan); }, true)->Unit(benchmark::kNanosecond);
      }
    }
  }
}

nlohmann::json state_section(const Profile& p) {
  const StateProfile& sw = kStateProfile.of(p);
  return {{"peers", peers_json(sw.peers)}, {"workers_per_cpu", sw.workers_per_cpu}, {"one_worker", sw.one_worker}};
}

FamilyDef state_family() {
  return {.name = "state",
          .keys = {{"access", Unit::kName, [] { return words_of(kAllAccesses, access_name); }},
                   {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(kStateProfile.of(p).peers); }},
                   {"workers", Unit::kCount, nullptr, nullptr, true}},
          .counters = {{"ns_per_op", Unit::kNs, kLow, true, true},
                       {"ops_per_second", Unit::kPerSecond, kHigh, false, true},
                       {"requests_per_op", Unit::kCount, kFact, false, false}},
          .profile_section = state_section,
          .add_benchmarks = add_state_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(state_family);

}  // namespace ipcm
