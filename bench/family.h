// A family describes itself where it is written: its bench/<family>/<family>_bench.cpp holds
// one FamilyDef — its keys, its counters, what each profile sweeps and how its benchmarks are
// registered — so adding a family is adding its folder (its bench file and its workload) and
// its contract text. `ipcmeter --describe`, the run and every script read these definitions.
#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/env.h"
#include "harness/core/name_table.h"
#include "harness/core/profile.h"
#include "harness/launch/peer_kind.h"

namespace ipcm {

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
inline constexpr Better kLow = Better::kLower, kHigh = Better::kHigher, kFact = Better::kNeither;

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
  Words (*values)() = nullptr;                                // every name a word key takes
  nlohmann::json (*by_profile)(const Profile&) = nullptr;     // what a profile sweeps, where it narrows
  bool scales_with_cpus = false;                              // a count made from the machine's CPUs
  bool optional = false;                                      // may be absent (the last key only)
};

using FamilyRegistration = void (*)(const Profile& profile, const Placement& placement);

struct FamilyDef {
  const char* name;
  std::vector<KeyDef> keys;
  std::vector<CounterDef> counters;
  // Repeated `repetitions` times by a profile: the families the report draws its
  // recommendations from (scripts/ipcmeter/recommend.py); the others only fill tables.
  bool repeated_by_profile = false;
  // When set, the profile repeats only the rows whose key `key` takes one of `values`: the rows
  // the report's answers compare, where the family's other rows only fill tables. For the py_*
  // families, whose every row starts a fresh interpreter and its children, repeating them all
  // would take the default profile minutes past its budget.
  struct RepeatedWhere {
    std::string key;
    std::vector<std::string> values;
  };
  std::optional<RepeatedWhere> repeated_where;
  // This family's section of each profile in --describe (what it sweeps); null: it sweeps
  // only the profile's shared message sizes.
  nlohmann::json (*profile_section)(const Profile&) = nullptr;
  FamilyRegistration add_benchmarks = nullptr;
  // Called when the run leaves this family (the first row of another family starts, or the
  // last row has run): what its rows share is released there, whatever the filter selected.
  void (*leave)() = nullptr;
};

// Families register themselves: each bench file holds one
//   static const FamilyRegistrar kRegistrar(pingpong_family);
// where pingpong_family() returns its FamilyDef.
struct FamilyRegistrar {
  explicit FamilyRegistrar(FamilyDef (*make)());
};
// Every family compiled in, in the contract's order (a family the order does not name runs
// after the others).
// "pingpong/transport:pipe/peer:fork/size:64/manual_time" -> its family and key:value fields
// (Google Benchmark's own segments, without a colon, are left out).
struct ParsedName {
  std::string family;
  std::map<std::string, std::string> kv;
};
ParsedName parse_name(const std::string& name);

const std::vector<FamilyDef>& families();
const FamilyDef* find_family(std::string_view name);
void register_all_families(const Profile& profile, const Placement& placement);
std::vector<std::string> family_run_order();

// What each profile sweeps for one family: one section per profile, named, so the table reads
// like the profiles it follows. Every profile must have its row (a missing one is a broken
// invariant, reported with file:line at start-up, not a silently empty sweep).
template <class Section>
class ByProfile {
 public:
  ByProfile(std::initializer_list<std::pair<std::string_view, Section>> rows) : rows_(rows) {
    for (const Profile& p : profiles()) IPCM_CHECK(find(p.name) != nullptr);
    IPCM_CHECK(rows_.size() == profiles().size());
  }
  const Section& of(const Profile& p) const { return *find(p.name); }

 private:
  const Section* find(std::string_view name) const {
    for (const auto& [n, s] : rows_)
      if (n == name) return &s;
    return nullptr;
  }
  std::vector<std::pair<std::string_view, Section>> rows_;
};

// Word lists the families' keys share.
Words transport_names();
Words peer_names();
Words wait_names();  // the waits the transports offer, in registry order
nlohmann::json peers_json(const std::vector<PeerKind>& peers);
// Every peer kind of the table, for the profiles that sweep them all: a new kind joins those
// sweeps without an edit here.
std::vector<PeerKind> every_peer();
// `all` is an enum's list of values (kAll* or a NameTable's values()).
template <class Values, class Name>
Words words_of(const Values& all, Name name) {
  Words w;
  for (const auto& e : all) w.push_back(name(e));
  return w;
}
// The link families' keys: pingpong and stream run the same matrix.
std::vector<KeyDef> link_keys();
// `own` followed by the kernel's counts per message (harness/core/kernel_counters.h), which
// the link families (pingpong, stream, load) add where the kernel lets them count: none
// primary, none required, all lower-is-better (a switch, a fault or a system call is work).
std::vector<CounterDef> with_kernel_counters(std::vector<CounterDef> own);

}  // namespace ipcm
