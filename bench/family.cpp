#include "bench/family.h"

#include <algorithm>
#include <iterator>
#include <sstream>

#include "harness/core/kernel_counters.h"
#include "harness/transports/transport.h"

namespace ipcm {

ParsedName parse_name(const std::string& name) {
  ParsedName p;
  std::stringstream ss(name);
  std::string seg;
  bool first = true;
  while (std::getline(ss, seg, '/')) {
    if (first) {
      p.family = seg;
      first = false;
      continue;
    }
    const auto c = seg.find(':');
    if (c != std::string::npos) p.kv[seg.substr(0, c)] = seg.substr(c + 1);
  }
  return p;
}
namespace {

// The contract's order; a family not listed here runs after these.
constexpr const char* kFamilyOrder[] = {"floor",       "pingpong",  "stream",     "placement", "load",
                                        "fanin",       "spawn",     "compute",    "pool",      "sync",
                                        "state",       "py_pingpong", "py_stream", "py_spawn", "py_pool",
                                        "py_compute",  "py_sync",   "py_state"};

std::vector<FamilyDef (*)()>& makers() {
  static std::vector<FamilyDef (*)()> v;
  return v;
}

std::size_t rank(std::string_view family) {
  const auto* it = std::find(std::begin(kFamilyOrder), std::end(kFamilyOrder), family);
  return std::size_t(it - std::begin(kFamilyOrder));
}

}  // namespace

FamilyRegistrar::FamilyRegistrar(FamilyDef (*make)()) { makers().push_back(make); }

// Made on first use, after every static registrar has run: a FamilyDef's key lists may ask the
// transport registry, which static initialisation order does not promise to have filled.
const std::vector<FamilyDef>& families() {
  static const std::vector<FamilyDef> all = [] {
    std::vector<FamilyDef> v;
    for (auto make : makers()) v.push_back(make());
    std::stable_sort(v.begin(), v.end(), [](const FamilyDef& a, const FamilyDef& b) { return rank(a.name) < rank(b.name); });
    for (std::size_t i = 1; i < v.size(); ++i) IPCM_CHECK(std::string_view(v[i - 1].name) != v[i].name);
    return v;
  }();
  return all;
}

const FamilyDef* find_family(std::string_view name) {
  for (const FamilyDef& f : families())
    if (f.name == name) return &f;
  return nullptr;
}

void register_all_families(const Profile& profile, const Placement& placement) {
  for (const FamilyDef& f : families()) f.add_benchmarks(profile, placement);
}

std::vector<std::string> family_run_order() {
  std::vector<std::string> names;
  for (const FamilyDef& f : families()) names.push_back(f.name);
  return names;
}

Words transport_names() {
  Words w;
  for (const TransportDef* t : transports()) w.push_back(std::string(t->name));
  return w;
}

Words wait_names() {
  Words w;
  for (const TransportDef* t : transports())
    for (Wait x : t->waits)
      if (std::find(w.begin(), w.end(), wait_name(x)) == w.end()) w.push_back(wait_name(x));
  return w;
}

Words peer_names() { return words_of(kAllPeers, peer_name); }

std::vector<PeerKind> every_peer() { return {std::begin(kAllPeers), std::end(kAllPeers)}; }

nlohmann::json peers_json(const std::vector<PeerKind>& peers) {
  nlohmann::json j = nlohmann::json::array();
  for (PeerKind p : peers) j.push_back(peer_name(p));
  return j;
}

std::vector<KeyDef> link_keys() {
  return {{"transport", Unit::kName, transport_names},
          {"peer", Unit::kName, peer_names},
          {"size", Unit::kBytes, nullptr, [](const Profile& p) { return nlohmann::json(p.sizes); }},
          {"wait", Unit::kName, wait_names, nullptr, false, true}};
}

std::vector<CounterDef> with_kernel_counters(std::vector<CounterDef> own) {
  for (KCounter k : kAllKCounters) own.push_back({kcounter_per_msg_name(k), Unit::kCount, kLow, false, false});
  return own;
}

}  // namespace ipcm
