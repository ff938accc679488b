#include "bench/describe.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "bench/suite.h"
#include "bench/fanin/fanin.h"
#include "bench/compute/compute.h"
#include "harness/core/name_table.h"
#include "bench/pool/pool.h"
#include "harness/core/profile.h"
#include "bench/state/state.h"
#include "bench/spawn/spawn.h"
#include "bench/sync/sync.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

using nlohmann::json;

enum class Unit { kName, kNs, kUs, kBytes, kMiB, kCount, kRatio, kPerSecond, kBytesPerSecond, kPerUs };
inline constexpr auto kUnitNames = name_table<Unit>({{Unit::kName, "name"},
                                                     {Unit::kNs, "ns"},
                                                     {Unit::kUs, "us"},
                                                     {Unit::kBytes, "bytes"},
                                                     {Unit::kMiB, "MiB"},
                                                     {Unit::kCount, "count"},
                                                     {Unit::kRatio, "ratio"},
                                                     {Unit::kPerSecond, "1/s"},
                                                     {Unit::kBytesPerSecond, "bytes/s"},
                                                     {Unit::kPerUs, "1/us"}});
static_assert(kUnitNames.well_formed());

// Which way a counter is better. A fact about the row (how many tasks, how big the array)
// has no direction: its higher_is_better is null.
enum class Better { kLower, kHigher, kNeither };

struct CounterDef {
  const char* name;
  Unit unit;
  Better better;
  bool primary;   // what compare and the report judge a row by, in this order
  bool required;  // in every row that ran (the contract's counters); others are additions
};

using Words = std::vector<std::string>;

struct KeyDef {
  const char* name;
  Unit unit;
  Words (*values)() = nullptr;                       // every name a word key takes
  json (*by_profile)(const Profile&) = nullptr;      // what a profile sweeps, where it narrows
  bool scales_with_cpus = false;                     // a count made from the machine's CPUs
  bool optional = false;                             // may be absent (the last key only)
};

struct FamilyDef {
  const char* name;
  std::vector<KeyDef> keys;
  std::vector<CounterDef> counters;
};

// `all` is an enum's kAll* list (an array today, a NameTable's values() once converted).
template <class Values, class Name>
Words words_of(const Values& all, Name name) {
  Words w;
  for (const auto& e : all) w.push_back(name(e));
  return w;
}

Words transport_names() {
  Words w;
  for (const TransportDef* t : transports()) w.push_back(std::string(t->name));
  return w;
}
Words fanin_transport_names() {
  Words w;
  for (const TransportDef* t : transports())
    if (fanin_transport(*t)) w.push_back(std::string(t->name));
  return w;
}
// The waits the transports offer, in registry order.
Words wait_names() {
  Words w;
  for (const TransportDef* t : transports())
    for (Wait x : t->waits)
      if (std::find(w.begin(), w.end(), wait_name(x)) == w.end()) w.push_back(wait_name(x));
  return w;
}
Words peer_names() { return words_of(kAllPeers, peer_name); }
json peers_json(const std::vector<PeerKind>& peers) {
  json j = json::array();
  for (PeerKind p : peers) j.push_back(peer_name(p));
  return j;
}
Words kernel_names() {
  Words w = words_of(kAllKernels, kernel_name);
  // The task farm's rows (bench/compute/compute_bench.cpp): processes started per task or a pool of them.
  w.push_back("farm_pool");
  w.push_back("farm_unbounded");
  return w;
}
// The floor family's probes (bench/floor/floor_bench.cpp), as its benchmarks name them.
Words probe_names() { return {"c2c_rtt", "memcpy_cache", "memcpy_dram", "syscall", "timer"}; }

constexpr Better kLow = Better::kLower, kHigh = Better::kHigher, kFact = Better::kNeither;

// The link families' keys: pingpong and stream run the same matrix.
std::vector<KeyDef> link_keys() {
  return {{"transport", Unit::kName, transport_names},
          {"peer", Unit::kName, peer_names},
          {"size", Unit::kBytes, nullptr, [](const Profile& p) { return json(p.sizes); }},
          {"wait", Unit::kName, wait_names, nullptr, false, true}};
}

// One table of every family's keys and counters (a data table; its length is the families').
// The counters' units, directions and primaries were the scripts' lists (PRIMARY_METRICS,
// HIGHER_IS_BETTER) and the contract's; stream's ratio_to_floor is bytes/s over a floor, so
// higher is better there, while pingpong's is a latency over a floor.
const std::vector<FamilyDef>& families() {
  static const std::vector<FamilyDef> all = {
      {"floor",
       {{"probe", Unit::kName, probe_names}},
       {{"real_time_ns", Unit::kNs, kLow, true, false},  // Google Benchmark's real_time, in ns
        {"rtt_p50_ns", Unit::kNs, kLow, false, false},
        {"rtt_p99_ns", Unit::kNs, kLow, false, false},
        {"items_per_second", Unit::kPerSecond, kHigh, false, false},
        {"bytes_per_second", Unit::kBytesPerSecond, kHigh, false, false}}},
      {"pingpong",
       link_keys(),
       {{"rtt_p50_ns", Unit::kNs, kLow, true, true},
        {"rtt_p99_ns", Unit::kNs, kLow, true, true},
        {"rtt_p90_ns", Unit::kNs, kLow, false, true},
        {"rtt_p999_ns", Unit::kNs, kLow, false, true},
        {"rtt_max_ns", Unit::kNs, kLow, false, true},
        {"rtt_mean_ns", Unit::kNs, kLow, false, true},
        {"cpu_ns_per_msg", Unit::kNs, kLow, false, true},
        {"ratio_to_floor", Unit::kRatio, kLow, false, true},
        {"items_per_second", Unit::kPerSecond, kHigh, false, true},
        {"floor_c2c_rtt_ns", Unit::kNs, kFact, false, false},
        {"floor_c2c_rtt_p99_ns", Unit::kNs, kFact, false, false}}},
      {"stream",
       link_keys(),
       {{"bytes_per_second", Unit::kBytesPerSecond, kHigh, true, true},
        {"items_per_second", Unit::kPerSecond, kHigh, true, true},
        {"cpu_ns_per_msg", Unit::kNs, kLow, false, true},
        {"ratio_to_memcpy", Unit::kRatio, kHigh, false, true},
        {"ratio_to_floor", Unit::kRatio, kHigh, false, true},
        {"window_msgs", Unit::kCount, kFact, false, false}}},
      {"fanin",
       {{"transport", Unit::kName, fanin_transport_names},
        {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(p.fanin.peers); }},
        {"producers", Unit::kCount, nullptr, nullptr, true},
        {"consumers", Unit::kCount, nullptr, nullptr, true},
        {"size", Unit::kBytes, nullptr, [](const Profile& p) { return json(p.fanin.sizes); }}},
       {{"bytes_per_second", Unit::kBytesPerSecond, kHigh, true, true},
        {"items_per_second", Unit::kPerSecond, kHigh, true, true},
        {"cpu_ns_per_msg", Unit::kNs, kLow, false, true}}},
      {"spawn",
       {{"method", Unit::kName, [] { return words_of(kAllStartMethods, start_method_name); }},
        {"rss_mib", Unit::kMiB, nullptr, [](const Profile& p) { return json(p.spawn.rss_mib); }}},
       {{"ready_p50_ns", Unit::kNs, kLow, true, true},
        {"ready_p99_ns", Unit::kNs, kLow, false, true},
        {"lifecycle_p50_ns", Unit::kNs, kLow, false, true},
        {"lifecycle_p99_ns", Unit::kNs, kLow, false, false},
        {"cow_ns_per_page", Unit::kNs, kLow, false, false},
        {"starts", Unit::kCount, kFact, false, false},
        {"parent_rss_mib", Unit::kMiB, kFact, false, false}}},
      {"compute",
       {{"kernel", Unit::kName, kernel_names},
        {"peer", Unit::kName, peer_names},
        {"workers", Unit::kCount, nullptr, nullptr, true}},
       {{"speedup", Unit::kRatio, kHigh, true, true},
        {"efficiency", Unit::kRatio, kHigh, false, true},
        {"speedup_min", Unit::kRatio, kHigh, false, false},
        {"speedup_max", Unit::kRatio, kHigh, false, false},
        {"samples", Unit::kCount, kFact, false, false},
        {"tasks", Unit::kCount, kFact, false, false},
        {"working_set_mib", Unit::kMiB, kFact, false, false},
        {"llc_mib", Unit::kMiB, kFact, false, false}}},
      {"pool",
       {{"executor", Unit::kName, [] { return words_of(kAllExecutors, executor_name); }},
        {"task_us", Unit::kUs, nullptr, [](const Profile& p) { return json(p.pool.task_us); }},
        {"chunk", Unit::kCount, nullptr, [](const Profile& p) { return json(p.pool.chunks); }}},
       {{"overhead_ns_per_task", Unit::kNs, kLow, true, true},
        {"wall_minus_ideal_ns_per_task", Unit::kNs, kLow, false, false},
        {"tasks", Unit::kCount, kFact, false, false},
        {"workers", Unit::kCount, kFact, false, false},
        {"work_iters_per_us", Unit::kPerUs, kFact, false, false},
        {"work_rate_spread", Unit::kRatio, kFact, false, false}}},
      {"sync",
       {{"primitive", Unit::kName, [] { return words_of(kAllPrimitives, primitive_name); }},
        {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(p.sync.peers); }},
        {"parties", Unit::kCount, nullptr, nullptr, true}},
       {{"handoff_p50_ns", Unit::kNs, kLow, true, true},
        {"handoff_p99_ns", Unit::kNs, kLow, false, true},
        {"handoffs_sampled", Unit::kCount, kFact, false, false},
        {"acquisitions_per_second", Unit::kPerSecond, kHigh, false, false},
        {"rounds_per_second", Unit::kPerSecond, kHigh, false, false},
        {"passes_per_second", Unit::kPerSecond, kHigh, false, false},
        {"uncontended_ns", Unit::kNs, kLow, false, false},
        {"cpu_ns_per_round", Unit::kNs, kLow, false, false}}},
      {"state",
       {{"access", Unit::kName, [] { return words_of(kAllAccesses, access_name); }},
        {"peer", Unit::kName, peer_names, [](const Profile& p) { return peers_json(p.state.peers); }},
        {"workers", Unit::kCount, nullptr, nullptr, true}},
       {{"ns_per_op", Unit::kNs, kLow, true, true},
        {"ops_per_second", Unit::kPerSecond, kHigh, false, true},
        {"requests_per_op", Unit::kCount, kFact, false, false}}},
  };
  return all;
}

json key_json(const KeyDef& k) {
  json j = {{"name", k.name}, {"unit", kUnitNames.name(k.unit)}, {"optional", k.optional},
            {"scales_with_cpus", k.scales_with_cpus}};
  if (k.values) j["values"] = k.values();
  if (k.by_profile) {
    json& by = j["values_by_profile"] = json::object();
    for (const Profile& p : profiles()) by[std::string(p.name)] = k.by_profile(p);
  }
  return j;
}

json family_json(const FamilyDef& f) {
  json keys = json::array(), primary = json::array(), counters = json::object();
  for (const KeyDef& k : f.keys) keys.push_back(key_json(k));
  for (const CounterDef& c : f.counters) {
    counters[c.name] = {{"unit", kUnitNames.name(c.unit)},
                        {"higher_is_better", c.better == Better::kNeither ? json(nullptr) : json(c.better == kHigh)},
                        {"primary", c.primary},
                        {"required", c.required}};
    if (c.primary) primary.push_back(c.name);
  }
  const bool repeated = std::find(std::begin(kComparedFamilies), std::end(kComparedFamilies), f.name) !=
                        std::end(kComparedFamilies);
  return {{"keys", keys}, {"counters", counters}, {"primary", primary}, {"repeated_by_profile", repeated}};
}

json shapes_json(const std::vector<std::pair<int, int>>& shapes) {
  json j = json::array();
  for (auto [producers, consumers] : shapes) j.push_back({producers, consumers});
  return j;
}

json profile_json(const Profile& p) {
  const KernelSize& k = p.compute.size;
  const FarmSize& farm = p.compute.farm;
  return {
      {"min_time_s", p.min_time_s},
      {"repetitions", p.repetitions},
      {"sizes", p.sizes},
      {"spawn",
       {{"rss_mib", p.spawn.rss_mib}, {"budget_s", p.spawn.budget_s}, {"min_starts", p.spawn.min_starts},
        {"max_starts", p.spawn.max_starts}}},
      {"compute",
       {{"cpu_elements", k.cpu_elements}, {"cpu_rounds", k.cpu_rounds}, {"membw_bytes", k.membw_bytes},
        {"membw_passes", k.membw_passes}, {"shared_elements", k.shared_elements}, {"shared_rounds", k.shared_rounds},
        {"rounds", p.compute.rounds}, {"all_powers", p.compute.all_powers},
        {"farm_elements_per_task", farm.elements_per_task}, {"farm_task_rounds", farm.rounds},
        {"farm_rounds", p.compute.farm_rounds}}},
      {"pool",
       {{"task_us", p.pool.task_us}, {"chunks", p.pool.chunks}, {"job_ms", p.pool.job_ms}, {"jobs", p.pool.jobs}}},
      {"fanin",
       {{"peers", peers_json(p.fanin.peers)}, {"shapes_per_cpu", shapes_json(p.fanin.shapes_per_cpu)},
        {"sizes", p.fanin.sizes}}},
      {"sync",
       {{"peers", peers_json(p.sync.peers)}, {"parties_per_cpu", p.sync.parties_per_cpu},
        {"lock_parties_one", p.sync.lock_parties_one}}},
      {"state",
       {{"peers", peers_json(p.state.peers)}, {"workers_per_cpu", p.state.workers_per_cpu},
        {"one_worker", p.state.one_worker}}},
  };
}

json transports_json() {
  json all = json::object();
  for (const TransportDef* t : transports()) {
    json waits = json::array();
    for (Wait w : t->waits) waits.push_back(wait_name(w));
    json reached = json::array();
    for (PeerKind p : kAllPeers)
      if (t->reaches(p)) reached.push_back(peer_name(p));
    const auto limit = t->max_msg_bytes();
    all[std::string(t->name)] = {{"kind", kind_name(t->kind)},
                                 {"max_msg_bytes", limit ? json(*limit) : json(nullptr)},
                                 {"limit_note", std::string(t->limit_note)},
                                 {"crosses_processes", t->crosses_processes()},
                                 {"peers", reached},
                                 {"survives_dead_peer", t->survives_dead_peer},
                                 {"waits", waits},
                                 {"fanin", fanin_transport(*t)}};
  }
  return all;
}

}  // namespace

json describe() {
  json families_j = json::object(), profiles_j = json::object();
  for (const FamilyDef& f : families()) families_j[f.name] = family_json(f);
  for (const Profile& p : profiles()) profiles_j[std::string(p.name)] = profile_json(p);
  return {
      {"describe_version", kDescribeVersion},
      {"families", families_j},
      {"family_order", family_run_order()},
      {"profiles", profiles_j},
      {"default_profile", std::string(kDefaultProfile)},
      {"peers", peer_names()},
      {"waits", wait_names()},
      {"transports", transports_json()},
  };
}

}  // namespace ipcm
