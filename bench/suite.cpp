#include "bench/suite.h"

#include <algorithm>
#include <iterator>

namespace ipcm {

Suite& suite() {
  static Suite s;
  return s;
}

std::string LinkVariant::name() const {
  std::string n = "transport:" + std::string(transport->name) + "/peer:" + peer_name(peer) +
                  "/size:" + std::to_string(size);
  if (wait) n += std::string("/wait:") + wait_name(*wait);
  return n;
}

void for_each_link_variant(const Profile& p, const std::function<void(const LinkVariant&)>& fn) {
  for (const TransportDef* t : transports()) {
    for (PeerKind peer : kAllPeers) {
      for (std::size_t size : p.sizes) {
        if (t->waits.empty()) {
          fn(LinkVariant{t, peer, size, std::nullopt});
        } else {
          for (Wait w : t->waits) fn(LinkVariant{t, peer, size, w});
        }
      }
    }
  }
}

namespace {
std::vector<std::string>& names() {
  static std::vector<std::string> v;
  return v;
}
}  // namespace

benchmark::internal::Benchmark* add_benchmark(const std::string& name, std::function<void(benchmark::State&)> fn,
                                              bool manual_time) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& st) { fn(st); });
  names().push_back(manual_time ? name + "/manual_time" : name);
  if (manual_time) b->UseManualTime();
  const std::string_view family = std::string_view(name).substr(0, name.find('/'));
  if (suite().family_repetitions > 1 &&
      std::find(std::begin(kComparedFamilies), std::end(kComparedFamilies), family) != std::end(kComparedFamilies))
    b->Repetitions(suite().family_repetitions);
  return b;
}

const std::vector<std::string>& registered_names() { return names(); }

namespace {
// The contract's order; a family not listed here runs after these.
constexpr const char* kFamilyOrder[] = {"floor", "pingpong", "stream", "fanin", "spawn",
                                        "compute", "pool", "sync", "state"};

std::vector<std::pair<std::string, FamilyRegistration>>& families() {
  static std::vector<std::pair<std::string, FamilyRegistration>> v;
  return v;
}

std::size_t rank(const std::string& family) {
  const auto* it = std::find(std::begin(kFamilyOrder), std::end(kFamilyOrder), family);
  return std::size_t(it - std::begin(kFamilyOrder));
}
}  // namespace

FamilyRegistrar::FamilyRegistrar(const char* family, FamilyRegistration fn) { families().emplace_back(family, fn); }

namespace {
std::vector<std::pair<std::string, FamilyRegistration>> in_run_order() {
  auto v = families();
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
  return v;
}
}  // namespace

void register_all_families(const Profile& profile, const Placement& placement) {
  for (const auto& [name, fn] : in_run_order()) fn(profile, placement);
}

std::vector<std::string> family_run_order() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : in_run_order()) names.push_back(name);
  return names;
}

void skip(benchmark::State& state, std::string why) {
  for (char& c : why) {
    if (c == '"' || c == '\\') c = '\'';
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  state.SkipWithError(why.c_str());
}

}  // namespace ipcm
