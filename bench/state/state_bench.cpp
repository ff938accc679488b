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

}  // namespace

void register_state_family(const Profile& p, const Placement&) {
  const StateProfile& sw = p.state;
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

static const FamilyRegistrar kRegistrar("state", register_state_family);

}  // namespace ipcm
