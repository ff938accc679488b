// sync/primitive:S/peer:P/parties:N — Python's synchronization toolbox (Lock, RLock,
// Semaphore, BoundedSemaphore, Event, Condition, Barrier) between N threads or processes.
// The workload and how each primitive's hand-off is defined are in bench/sync/sync.h:
// each party stamps the tick before it releases, the next party records the difference after
// it acquires (the TSC is shared by processes, so that is a valid one-way time). Every run's
// counts are checked exactly; a wrong count is an error, never a number.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "bench/suite.h"
#include "bench/sync/sync_row.h"
#include "harness/launch/party.h"
#include "bench/sync/sync.h"

namespace ipcm {
namespace {

// What sync sweeps per profile: peers and party counts. quick: thread and fork only (spawn
// runs the same process-shared objects; it differs only in how the party started, which is
// not timed here) and two parties. default: every peer, one party for the uncontended lock
// cost, then 1x and 2x the CPUs for contention.
struct SyncProfile {
  std::vector<PeerKind> peers;
  // Party counts, as multiples of the CPUs: 0 stands for one party (locks only, uncontended).
  std::vector<int> parties_per_cpu;
  bool lock_parties_one;  // locks also run with one party, for the uncontended cost
};
constexpr PeerKind kThread = PeerKind::kThread, kFork = PeerKind::kFork;
const ByProfile<SyncProfile> kSyncProfile = {
    {"quick", {.peers = {kThread, kFork}, .parties_per_cpu = {}, .lock_parties_one = true}},
    {"default", {.peers = every_peer(), .parties_per_cpu = {1, 2}, .lock_parties_one = true}},
    {"full", {.peers = every_peer(), .parties_per_cpu = {1, 2, 4}, .lock_parties_one = true}},
};

// Below this many rounds a run has too few hand-offs to read a p99 from.
constexpr std::uint64_t kMinSyncRounds = 256;

void run(benchmark::State& state, SyncPlan plan) {
  plan.rounds = std::max<std::uint64_t>(std::uint64_t(state.max_iterations), kMinSyncRounds);
  while (state.KeepRunningBatch(benchmark::IterationCount(plan.rounds))) {
    SyncResult r = run_sync(plan);
    if (!r.error.empty()) {
      skip(state, std::string(primitive_impl(plan.primitive, plan.peer)) + ": " + r.error);
      break;
    }
    state.SetIterationTime(r.seconds);
    auto& c = state.counters;
    // A lock whose holder re-took it every time handed nothing off: no hand-off latency to
    // report, rather than a zero that looks like one.
    if (r.handoff_ns.count() > 0) {
      c["handoff_p50_ns"] = r.handoff_ns.quantile(0.50);
      c["handoff_p99_ns"] = r.handoff_ns.quantile(0.99);
    }
    c["handoffs_sampled"] = double(r.handoff_ns.count());
    const double per_second = r.seconds > 0 ? double(r.rounds) / r.seconds : 0;
    if (is_lock(plan.primitive)) c["acquisitions_per_second"] = per_second;
    else if (plan.primitive == Primitive::kBarrier) c["rounds_per_second"] = per_second;
    else c["passes_per_second"] = per_second;
    if (plan.parties == 1 && r.rounds > 0) c["uncontended_ns"] = r.seconds * 1e9 / double(r.rounds);
    if (r.rounds > 0) c["cpu_ns_per_round"] = double(r.cpu_ns) / double(r.rounds);
  }
}

void add_sync_benchmarks(const Profile& p, const Placement&) {
  const SyncProfile& sw = kSyncProfile.of(p);
  const int cpus = std::max(1, int(sysconf(_SC_NPROCESSORS_ONLN)));
  for (Primitive prim : kAllPrimitives) {
    for (PeerKind peer : sw.peers) {
      std::set<int> counts = {2};
      if (sw.lock_parties_one && is_lock(prim)) counts.insert(1);
      for (int k : sw.parties_per_cpu) counts.insert(std::min(kMaxParties, std::max(2, k * cpus)));
      for (int n : counts) {
        SyncPlan plan;
        plan.primitive = prim;
        plan.peer = peer;
        plan.parties = n;
        const std::string name = std::string("sync/primitive:") + primitive_name(prim) + "/peer:" + peer_name(peer) +
                                 "/parties:" + std::to_string(n);
        add_benchmark(name, [plan](benchmark::State& st) { run(st, plan); }, true)->Unit(benchmark::kNanosecond);
      }
    }
  }
}

nlohmann::json sync_section(const Profile& p) {
  const SyncProfile& sw = kSyncProfile.of(p);
  return {{"peers", peers_json(sw.peers)}, {"parties_per_cpu", sw.parties_per_cpu},
          {"lock_parties_one", sw.lock_parties_one}};
}

FamilyDef sync_family() {
  return {.name = "sync",
          .keys = {{"primitive", Unit::kName, [] { return words_of(kAllPrimitives, primitive_name); }},
                   {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(kSyncProfile.of(p).peers); }},
                   {"parties", Unit::kCount, nullptr, nullptr, true}},
          .counters = sync_row_counters(),
          .profile_section = sync_section,
          .add_benchmarks = add_sync_benchmarks};
}

}  // namespace

std::vector<CounterDef> sync_row_counters() {
  return {{"handoff_p50_ns", Unit::kNs, kLow, true, true},
          {"handoff_p99_ns", Unit::kNs, kLow, false, true},
          {"handoffs_sampled", Unit::kCount, kFact, false, false},
          {"acquisitions_per_second", Unit::kPerSecond, kHigh, false, false},
          {"rounds_per_second", Unit::kPerSecond, kHigh, false, false},
          {"passes_per_second", Unit::kPerSecond, kHigh, false, false},
          {"uncontended_ns", Unit::kNs, kLow, false, false},
          {"cpu_ns_per_round", Unit::kNs, kLow, false, false}};
}

static const FamilyRegistrar kRegistrar(sync_family);

}  // namespace ipcm
