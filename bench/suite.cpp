#include "bench/suite.h"

#include <algorithm>
#include <iterator>
#include <cstdlib>
#include <memory>
#include <regex>

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

std::optional<LibraryLinkSweep> library_link_sweep(const Profile& p, const TransportDef& t) {
  if (!p.narrow_library_links || t.library.empty()) return std::nullopt;
  // Fork, else the first process peer it reaches, else the first peer at all.
  std::optional<PeerKind> peer, any;
  for (PeerKind k : kAllPeers) {
    if (!t.reaches(k)) continue;
    if (!any) any = k;
    if (!peer && crosses_processes(k)) peer = k;
  }
  if (t.reaches(PeerKind::kFork)) peer = PeerKind::kFork;
  if (!peer) peer = any;
  IPCM_CHECK(peer.has_value());
  std::optional<Wait> wait;
  if (!t.waits.empty())
    wait = std::find(t.waits.begin(), t.waits.end(), Wait::kBlock) != t.waits.end() ? Wait::kBlock : t.waits.front();
  return LibraryLinkSweep{*peer, wait};
}

void for_each_link_variant(const Profile& p, const std::function<void(const LinkVariant&)>& fn) {
  for (const TransportDef* t : transports()) {
    const std::optional<LibraryLinkSweep> narrow = library_link_sweep(p, *t);
    for (PeerKind peer : kAllPeers) {
      if (narrow && peer != narrow->peer) continue;
      for (std::size_t size : p.sizes) {
        if (narrow) {
          fn(LinkVariant{t, peer, size, narrow->wait});
        } else if (t->waits.empty()) {
          fn(LinkVariant{t, peer, size, std::nullopt});
        } else {
          for (Wait w : t->waits) fn(LinkVariant{t, peer, size, w});
        }
      }
    }
  }
}

void add_link_benchmarks(const Profile& p, const char* family, LinkRun run) {
  for_each_link_variant(p, [family, run](const LinkVariant& v) {
    const std::string name = std::string(family) + "/" + v.name();
    add_benchmark(name, [v, name, run](benchmark::State& st) { run(st, v, suite().calibration_delay_loops_for(name)); },
                  true, 1)
        ->Unit(benchmark::kNanosecond);
  });
}

namespace {
// The family whose row ran last: its leave() runs before a row of another family starts.
const FamilyDef*& current_family() {
  static const FamilyDef* f = nullptr;
  return f;
}

void enter_family(const FamilyDef* family) {
  if (current_family() == family) return;
  leave_current_family();
  current_family() = family;
}

std::vector<std::string>& names() {
  static std::vector<std::string> v;
  return v;
}

// The reason the last skip() gave, so that add_benchmark can repeat it.
std::string& last_skip_reason() {
  static std::string why;
  return why;
}
}  // namespace

bool repeated_by_profile(const FamilyDef& family, const std::string& name) {
  if (!family.repeated_by_profile) return false;
  if (!family.repeated_where) return true;
  const auto& [key, values] = *family.repeated_where;
  const ParsedName p = parse_name(name);
  const auto it = p.kv.find(key);
  return it != p.kv.end() && std::find(values.begin(), values.end(), it->second) != values.end();
}

benchmark::internal::Benchmark* add_benchmark(const std::string& name, std::function<void(benchmark::State&)> fn,
                                              bool manual_time, std::int64_t iterations) {
  // A failure is final for its row: the later repetitions end at once with its reason. Google
  // Benchmark 1.7.1 computes a row's aggregates through its first repetition's `statistics`
  // pointer, which it leaves unset when that repetition failed, so a row whose first
  // repetition failed and two later ones succeeded crashed the run (SIGSEGV in ComputeStats,
  // guarded by tests/scripts/test_failed_repetition.py). A failure in a later repetition keeps
  // the repetitions before it.
  auto first_failure = std::make_shared<std::string>();
  // Test-only: IPCMETER_FAIL_FIRST_RUN=REGEX fails the first run of every matching row, as a
  // peer that died in the first repetition would.
  const char* fail_first = std::getenv("IPCMETER_FAIL_FIRST_RUN");
  const bool inject = fail_first != nullptr && std::regex_search(name, std::regex(fail_first));
  const FamilyDef* family = find_family(std::string_view(name).substr(0, name.find('/')));
  IPCM_CHECK(family != nullptr);
  auto run = [fn, first_failure, inject, family, first_run = std::make_shared<bool>(true)](benchmark::State& st) {
    enter_family(family);
    if (!first_failure->empty())
      return skip(st, "an earlier repetition of this row failed, so this one was not run: " + *first_failure);
    last_skip_reason().clear();
    // With the control characters a peer's stderr can carry (a colour escape, a bell), which
    // the reason must not pass into the results file.
    if (inject && *first_run) skip(st, "injected failure (IPCMETER_FAIL_FIRST_RUN) \x1b[0m\x07\x01");
    else fn(st);
    *first_run = false;
    if (st.error_occurred()) *first_failure = last_skip_reason().empty() ? "(no reason given)" : last_skip_reason();
  };
  auto* b = benchmark::RegisterBenchmark(name.c_str(), run);
  // The name Google Benchmark will list and match --benchmark_filter against: its segments in
  // its order (iterations, repeats, manual_time), so main's check of the filter and the
  // count of what will run agree with what runs.
  std::string listed = name;
  if (iterations > 0) {
    b->Iterations(iterations);
    listed += "/iterations:" + std::to_string(iterations);
  }
  if (suite().family_repetitions > 1 && repeated_by_profile(*family, name)) {
    b->Repetitions(suite().family_repetitions);
    listed += "/repeats:" + std::to_string(suite().family_repetitions);
  }
  if (manual_time) {
    b->UseManualTime();
    listed += "/manual_time";
  }
  names().push_back(std::move(listed));
  return b;
}

const std::vector<std::string>& registered_names() { return names(); }

void leave_current_family() {
  const FamilyDef* f = current_family();
  current_family() = nullptr;
  if (f != nullptr && f->leave != nullptr) f->leave();
}

std::string json_safe_reason(std::string why) {
  for (char& c : why) {
    if (c == '"' || c == '\\') c = '\'';
    // Every control character, not only line breaks: a reason that quotes a peer's stderr
    // can carry a terminal's colour escapes (iceoryx's log did), and one raw byte below 0x20
    // made the whole results file invalid JSON.
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return why;
}

void skip(benchmark::State& state, std::string why) {
  why = json_safe_reason(std::move(why));
  state.SkipWithError(why.c_str());
  last_skip_reason() = std::move(why);
}

}  // namespace ipcm
