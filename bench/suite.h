// What every family needs to know about the run: the profile, where the two sides run, the
// floors measured at the start, and the calibration delay. Set once by main before any
// benchmark runs.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "bench/family.h"
#include "harness/core/clock.h"
#include "harness/core/env.h"
#include "harness/core/floors.h"
#include "harness/launch/peer.h"
#include "harness/core/profile.h"
#include "harness/transports/transport.h"

namespace ipcm {

struct Suite {
  const Profile* profile = nullptr;
  Placement placement;
  Floors floors_start;
  // The profile's repetitions for the compared families; 0 when --benchmark_repetitions was
  // given, because a benchmark's own Repetitions() would override the user's flag.
  int family_repetitions = 0;
  std::uint64_t calibration_delay_ns = 0;
  std::uint64_t calibration_delay_loops = 0;
  // --calibration_delay_filter: only benchmarks whose name matches are slowed, so a gate's
  // sensitivity trial slows one row as a real regression would, not the whole candidate.
  std::optional<std::regex> calibration_delay_filter;
  // How long a row that sizes its own work runs (RowBudget): --benchmark_min_time when
  // given, else the profile's min_time_s. Google Benchmark would size such a row by running
  // it again and again with more iterations, each run setting up its peer and floors anew;
  // run as one iteration (Iterations(1)) the row sets up once and runs this long.
  double row_seconds = 0.1;

  // The delay for the benchmark of this name (without Google Benchmark's suffixes).
  std::uint64_t calibration_delay_loops_for(const std::string& benchmark) const {
    if (calibration_delay_filter && !std::regex_search(benchmark, *calibration_delay_filter)) return 0;
    return calibration_delay_loops;
  }
};
Suite& suite();

// One point of the transfer matrix: a transport, a peer kind, a size and (for transports
// that offer a choice) a wait strategy.
struct LinkVariant {
  const TransportDef* transport;
  PeerKind peer;
  std::size_t size;
  std::optional<Wait> wait;
  // "transport:pipe/peer:fork/size:64[/wait:spin]"
  std::string name() const;
};

// What a profile that narrows library transports (Profile::narrow_library_links) runs of
// one: a forked peer where it reaches one (the cheapest process peer to start), else the first
// process peer it reaches, else its first peer; the blocking wait where it offers a choice.
struct LibraryLinkSweep {
  PeerKind peer;
  std::optional<Wait> wait;
};
std::optional<LibraryLinkSweep> library_link_sweep(const Profile& p, const TransportDef& t);

// "Go on?" for a loop that runs for the row's time (Suite::row_seconds). It reads the clock
// once every kEvery calls, before the next message, never inside a timed interval of its
// own, so the check costs next to nothing per message.
class RowBudget {
 public:
  explicit RowBudget(double seconds)
      : end_(TickClock::now() + std::uint64_t(seconds * 1e9 / TickClock::get().ns_per_tick())) {}
  bool more() noexcept { return (++calls_ % kEvery) != 0 || TickClock::now() < end_; }

 private:
  static constexpr std::uint64_t kEvery = 16;
  std::uint64_t end_;
  std::uint64_t calls_ = 0;
};

// Every transport x peer x profile size x wait: the matrix every transfer family runs, less
// what library_link_sweep leaves out.
void for_each_link_variant(const Profile& p, const std::function<void(const LinkVariant&)>& fn);
// Registers "<family>/<variant>" for every link variant, each timed by `run` with its
// calibration delay (zero unless --calibration_delay_ns selects it).
using LinkRun = void (*)(benchmark::State& state, const LinkVariant& v, std::uint64_t delay_loops);
void add_link_benchmarks(const Profile& p, const char* family, LinkRun run);

// Whether a profile repeats this row of `family`: its repeated_by_profile, narrowed by its
// repeated_where.
bool repeated_by_profile(const FamilyDef& family, const std::string& name);

// Registers a benchmark with Google Benchmark and records the name it will carry (with
// "/iterations:N", "/repeats:N" and "/manual_time" as Google Benchmark adds them), so that
// main can check --benchmark_filter and count what will run without a second list of names
// to keep in step. iterations > 0: the row runs exactly that many (set here, never through
// the returned Benchmark, or the recorded name would miss it).
benchmark::internal::Benchmark* add_benchmark(const std::string& name, std::function<void(benchmark::State&)> fn,
                                              bool manual_time, std::int64_t iterations = 0);
const std::vector<std::string>& registered_names();
// Runs the `leave` of the family whose rows ran last, if any (FamilyDef::leave); main calls it
// once the last row has run, before the end-of-run floors.
void leave_current_family();

// Ends a benchmark with an environment error. Google Benchmark 1.7.1 writes the message
// into JSON unescaped, so quotes, backslashes and control characters are replaced
// (json_safe_reason).
void skip(benchmark::State& state, std::string why);
std::string json_safe_reason(std::string why);

}  // namespace ipcm
