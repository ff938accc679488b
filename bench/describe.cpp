#include "bench/describe.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "bench/family.h"
#include "bench/fanin/fanin.h"
#include "bench/mpi/mpi_rows.h"
#include "bench/suite.h"
#include "harness/core/floors.h"
#include "harness/core/profile.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

using nlohmann::json;

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
  json out = {{"keys", keys}, {"counters", counters}, {"primary", primary}, {"repeated_by_profile", f.repeated_by_profile}};
  if (f.repeated_where) out["repeated_where"] = {{f.repeated_where->key, f.repeated_where->values}};
  return out;
}

// The profile's shared fields, then each family's own section (what it sweeps).
json profile_json(const Profile& p) {
  json j = {{"min_time_s", p.min_time_s}, {"repetitions", p.repetitions}, {"sizes", p.sizes}};
  // The library transports' link rows this profile keeps (pingpong, stream), where it narrows.
  json narrowed = json::object();
  for (const TransportDef* t : transports())
    if (const auto s = library_link_sweep(p, *t))
      narrowed[std::string(t->name)] = {{"peers", {peer_name(s->peer)}},
                                        {"waits", s->wait ? json::array({wait_name(*s->wait)}) : json::array()}};
  if (!narrowed.empty()) j["library_links"] = narrowed;
  for (const FamilyDef& f : families())
    if (f.profile_section) j[f.name] = f.profile_section(p);
  return j;
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
                                 {"fanin", fanin_transport(*t)},
                                 {"zero_copy", !t->zero_copy.empty()},
                                 {"zero_copy_note", std::string(t->zero_copy)},
                                 {"library", t->library.empty() ? json(nullptr) : json(std::string(t->library))}};
  }
  // MPI's transports reach MPI ranks, which mpirun starts (bench/mpi/mpi_rows.h).
  all.update(mpi_transports_json());
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
      {"peers", peer_names_with_mpi()},
      {"waits", wait_names()},
      {"transports", transports_json()},
      // What --floors= takes: scripts/ab.py asks before it narrows its floor probes.
      {"floor_scopes", words_of(kFloorScopeNames.values(), [](FloorScope f) { return kFloorScopeNames.name(f); })},
  };
}

}  // namespace ipcm
