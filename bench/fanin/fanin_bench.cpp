// fanin/transport:T/peer:P/producers:N/consumers:M/size:B — N producers and M consumers on one
// queue of the registry's queue kind, JoinableQueue-style: the clock runs from the start gate
// to the moment the last message went through task_done(). Every message is checked and
// reconciled exactly once (bench/fanin/fanin.h explains how, and why this is not a Channel).
// Combinations that cannot run (tbb_queue across processes, a size over posix_mq's limit) are
// listed with the reason, from the same TransportDef facts the other families use.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "bench/suite.h"
#include "bench/fanin/fanin.h"
#include "harness/launch/party.h"

namespace ipcm {
namespace {

// What fanin sweeps per profile.
struct FaninProfile {
  std::vector<PeerKind> peers;
  // (producers, consumers) as multiples of the CPUs (0 stands for one).
  std::vector<std::pair<int, int>> shapes_per_cpu;
  std::vector<std::size_t> sizes;
};
constexpr PeerKind kThread = PeerKind::kThread, kFork = PeerKind::kFork;
const ByProfile<FaninProfile> kFaninProfile = {
    {"quick", {.peers = {kThread, kFork}, .shapes_per_cpu = {{0, 0}, {1, 0}}, .sizes = {64}}},
    {"default", {.peers = every_peer(), .shapes_per_cpu = {{0, 0}, {1, 0}, {2, 1}}, .sizes = {64, 4096}}},
    {"full",
     {.peers = every_peer(),
      .shapes_per_cpu = {{0, 0}, {1, 0}, {2, 0}, {2, 1}, {2, 2}},
      .sizes = {64, 4096, 65536}}},
};

// Per producer, at least this many messages, so the queue fills and drains a few times.
constexpr std::uint64_t kMinMessagesPerProducer = 256;

void run(benchmark::State& state, FaninPlan plan) {
  const std::string refusal = fanin_refusal(*plan.transport, plan.peer, plan.size);
  if (!refusal.empty()) return skip(state, refusal);
  plan.messages = std::max<std::uint64_t>(std::uint64_t(state.max_iterations),
                                          kMinMessagesPerProducer * std::uint64_t(plan.producers));
  while (state.KeepRunningBatch(benchmark::IterationCount(plan.messages))) {
    FaninResult r = run_fanin(plan);
    if (!r.error.empty()) {
      skip(state, r.error);
      break;
    }
    state.SetIterationTime(r.seconds);
    state.SetItemsProcessed(std::int64_t(r.messages));
    state.SetBytesProcessed(std::int64_t(r.messages * plan.size));
    if (r.messages > 0) state.counters["cpu_ns_per_msg"] = double(r.cpu_ns) / double(r.messages);
  }
}

void add_fanin_benchmarks(const Profile& p, const Placement&) {
  const FaninProfile& sw = kFaninProfile.of(p);
  const int cpus = std::max(1, int(sysconf(_SC_NPROCESSORS_ONLN)));
  auto count = [&](int k) { return k == 0 ? 1 : k * cpus; };
  std::set<std::pair<int, int>> shapes;
  for (auto [pk, ck] : sw.shapes_per_cpu) {
    const int pr = count(pk), co = count(ck);
    if (pr + co <= kMaxParties) shapes.insert({pr, co});
  }
  for (const TransportDef* t : transports()) {
    if (!fanin_transport(*t)) continue;
    for (PeerKind peer : sw.peers) {
      for (auto [pr, co] : shapes) {
        for (std::size_t size : sw.sizes) {
          FaninPlan plan;
          plan.transport = t;
          plan.peer = peer;
          plan.producers = pr;
          plan.consumers = co;
          plan.size = std::max(size, kFaninHeaderBytes);
          const std::string name = "fanin/transport:" + std::string(t->name) + "/peer:" + peer_name(peer) +
                                   "/producers:" + std::to_string(pr) + "/consumers:" + std::to_string(co) +
                                   "/size:" + std::to_string(size);
          add_benchmark(name, [plan](benchmark::State& st) { run(st, plan); }, true)->Unit(benchmark::kNanosecond);
        }
      }
    }
  }
}

Words fanin_transport_names() {
  Words w;
  for (const TransportDef* t : transports())
    if (fanin_transport(*t)) w.push_back(std::string(t->name));
  return w;
}

nlohmann::json fanin_section(const Profile& p) {
  const FaninProfile& sw = kFaninProfile.of(p);
  nlohmann::json shapes = nlohmann::json::array();
  for (auto [producers, consumers] : sw.shapes_per_cpu) shapes.push_back({producers, consumers});
  return {{"peers", peers_json(sw.peers)}, {"shapes_per_cpu", shapes}, {"sizes", sw.sizes}};
}

FamilyDef fanin_family() {
  return {.name = "fanin",
          .keys = {{"transport", Unit::kName, fanin_transport_names},
                   {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(kFaninProfile.of(p).peers); }},
                   {"producers", Unit::kCount, nullptr, nullptr, true},
                   {"consumers", Unit::kCount, nullptr, nullptr, true},
                   {"size", Unit::kBytes, nullptr, [](const Profile& p) { return nlohmann::json(kFaninProfile.of(p).sizes); }}},
          .counters = {{"bytes_per_second", Unit::kBytesPerSecond, kHigh, true, true},
                       {"items_per_second", Unit::kPerSecond, kHigh, true, true},
                       {"cpu_ns_per_msg", Unit::kNs, kLow, false, true}},
          .profile_section = fanin_section,
          .add_benchmarks = add_fanin_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(fanin_family);

}  // namespace ipcm
