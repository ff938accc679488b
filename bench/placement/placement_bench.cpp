// placement/transport:T/peer:P/size:B[/wait:W]/where:X — the pingpong round trip with the two
// sides placed on purpose: one CPU, two cores of a package, the two SMT threads of a core, two
// sockets, or unpinned. The same row code as pingpong (bench/pingpong/pingpong_row.h), so the
// counters, the checks and the per-row core-to-core floor of those CPUs are the same; only
// the CPUs differ. A placement this machine lacks is a row that says why (no SMT, one socket),
// never a row left out.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bench/pingpong/pingpong_row.h"
#include "bench/suite.h"

namespace ipcm {
namespace {

// Which transports and peers each profile places: the pair the external checks compare
// (pipe, posix_mq) and a shared-memory ring, whose spinning wait shows what one shared CPU
// does to a spinner; wider sweeps in the longer profiles.
struct PlacementProfile {
  std::vector<std::string> transports;
  std::vector<PeerKind> peers;
  std::vector<Wait> waits;  // of the transports that offer a choice
  std::vector<std::size_t> sizes;
};
constexpr PeerKind kThread = PeerKind::kThread, kFork = PeerKind::kFork;
const ByProfile<PlacementProfile> kPlacementProfile = {
    {"quick", {.transports = {"pipe", "posix_mq"}, .peers = {kFork}, .waits = {}, .sizes = {64}}},
    {"default",
     {.transports = {"pipe", "socketpair", "posix_mq", "shm_ring"},
      .peers = {kThread, kFork},
      .waits = {Wait::kBlock, Wait::kSpin},
      .sizes = {64}}},
    {"full",
     {.transports = {"pipe", "socketpair", "fifo", "posix_mq", "bip_mq", "tcp", "shm_ring"},
      .peers = every_peer(),
      .waits = {Wait::kBlock, Wait::kSpin},
      .sizes = {64, 4096}}},
};

void run(benchmark::State& state, const LinkVariant& v, Where where, const Sited& sited, std::uint64_t delay_loops) {
  if (!sited.lacking.empty()) return skip(state, std::string(kWhereNames.name(where)) + ": " + sited.lacking);
  measure_pingpong_row(state, v, delay_loops, sited.placement);
  state.SetLabel(sited.placement.reason);
}

void add_placement_benchmarks(const Profile& p, const Placement& pl) {
  const PlacementProfile& sw = kPlacementProfile.of(p);
  // Each where's CPUs are chosen once, from the affinity the run started with, and shared by
  // every row placed there (Google Benchmark calls a row several times).
  std::vector<std::pair<Where, Sited>> sites;
  for (Where where : kWhereNames.values()) sites.emplace_back(where, place(where, pl.allowed_cpus));
  for (const std::string& tname : sw.transports) {
    const TransportDef* t = find_transport(tname);
    IPCM_CHECK(t != nullptr);
    std::vector<std::optional<Wait>> waits;
    for (Wait w : t->waits)
      if (std::find(sw.waits.begin(), sw.waits.end(), w) != sw.waits.end()) waits.push_back(w);
    if (t->waits.empty()) waits.push_back(std::nullopt);
    for (PeerKind peer : sw.peers)
      for (std::size_t size : sw.sizes)
        for (const std::optional<Wait>& wait : waits)
          for (const auto& [where, sited] : sites) {
            const LinkVariant v{t, peer, size, wait};
            const std::string name = "placement/" + v.name() + "/where:" + kWhereNames.name(where);
            add_benchmark(name,
                          [v, where, sited, name](benchmark::State& st) {
                            run(st, v, where, sited, suite().calibration_delay_loops_for(name));
                          },
                          true, 1)
                ->Unit(benchmark::kNanosecond);
          }
  }
}

nlohmann::json placement_section(const Profile& p) {
  const PlacementProfile& sw = kPlacementProfile.of(p);
  return {{"transports", sw.transports},
          {"peers", peers_json(sw.peers)},
          {"waits", words_of(sw.waits, wait_name)},
          {"sizes", sw.sizes},
          {"where", words_of(kWhereNames.values(), [](Where w) { return kWhereNames.name(w); })}};
}

FamilyDef placement_family() {
  const auto names_of_where = [] { return words_of(kWhereNames.values(), [](Where w) { return kWhereNames.name(w); }); };
  return {.name = "placement",
          .keys = {{"transport", Unit::kName, transport_names,
                    [](const Profile& p) { return nlohmann::json(kPlacementProfile.of(p).transports); }},
                   {"peer", Unit::kName, peer_names,
                    [](const Profile& p) { return peers_json(kPlacementProfile.of(p).peers); }},
                   {"size", Unit::kBytes, nullptr,
                    [](const Profile& p) { return nlohmann::json(kPlacementProfile.of(p).sizes); }},
                   {"wait", Unit::kName, wait_names,
                    [](const Profile& p) { return nlohmann::json(words_of(kPlacementProfile.of(p).waits, wait_name)); },
                    false, true},
                   {"where", Unit::kName, +names_of_where}},
          // measure_pingpong_row's; ratio_to_floor is absent from unpinned rows
          .counters = pingpong_row_counters(false),
          .profile_section = placement_section,
          .add_benchmarks = add_placement_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(placement_family);

}  // namespace ipcm
