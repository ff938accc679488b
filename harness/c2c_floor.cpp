#include "harness/c2c_floor.h"

#include <cmath>
#include <limits>
#include <system_error>

#include "harness/clock.h"
#include "harness/env.h"

namespace ipcm {
namespace {

// The protocols take turns in blocks: a host that moves the vCPUs mid-probe (the floor here
// jumps between ~90 and ~1100 ns) then shifts every protocol's histogram alike instead of
// handing the win to whichever ran in the quiet moment.
constexpr int kBlocks = 8;
// Brings both lines into the two caches and the partner into its serve loop before timing.
constexpr int kWarmupTripsPerBlock = 64;
// 8 x 400 = 3200 trips per protocol: the p50 of that many is stable to a bucket or two.
constexpr int kTimedTripsPerBlock = 400;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <LineLayout kLayout, bool kPause>
void timed_block(C2cPartner& partner, Histogram& rtt_ns) noexcept {
  const TickClock& clock = TickClock::get();
  for (int i = 0; i < kWarmupTripsPerBlock; ++i) partner.round_trip<kLayout, kPause>();
  // The same two clock reads around the same kind of wait as pingpong_loop, and the sample
  // recorded outside the interval, so both sides of ratio_to_floor carry the same overhead.
  for (int i = 0; i < kTimedTripsPerBlock; ++i) {
    const std::uint64_t start = TickClock::now();
    partner.round_trip<kLayout, kPause>();
    const std::uint64_t end = TickClock::now();
    rtt_ns.record(clock.to_ns_fast(end - start));
  }
}

void run_block(C2cPartner& partner, const C2cProtocol& p, Histogram& rtt_ns) noexcept {
  partner.begin_protocol(p);
  const bool shared = p.layout == LineLayout::kSharedLine;
  if (shared && p.pause) timed_block<LineLayout::kSharedLine, true>(partner, rtt_ns);
  if (shared && !p.pause) timed_block<LineLayout::kSharedLine, false>(partner, rtt_ns);
  if (!shared && p.pause) timed_block<LineLayout::kTwoLines, true>(partner, rtt_ns);
  if (!shared && !p.pause) timed_block<LineLayout::kTwoLines, false>(partner, rtt_ns);
  partner.end_protocol();
}

nlohmann::json or_null(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

C2cPartner::C2cPartner(int peer_cpu, bool share_cpu) : share_cpu_(share_cpu) {
  try {
    thread_ = std::thread([this, peer_cpu] { partner(peer_cpu); });
  } catch (const std::system_error&) {
    error_ = "the partner thread could not be started";
    return;
  }
  started_.wait(0, std::memory_order_acquire);
  running_ = started_.load(std::memory_order_acquire) == 1;
}

C2cPartner::~C2cPartner() {
  if (!thread_.joinable()) return;
  command_.store(kQuit, std::memory_order_release);
  command_.notify_one();
  thread_.join();
}

void C2cPartner::begin_protocol(const C2cProtocol& p) noexcept {
  // The partner is idle here, so the lines can be reset without a race.
  ping_.store(0, std::memory_order_relaxed);
  pong_.store(0, std::memory_order_relaxed);
  stop_.store(false, std::memory_order_relaxed);
  next_ = 1;
  protocol_ = p;
  command_.store(kServe, std::memory_order_release);
  command_.notify_one();
}

void C2cPartner::end_protocol() noexcept {
  // Every trip was answered before round_trip() returned, so nothing is left pending.
  stop_.store(true, std::memory_order_relaxed);
  command_.wait(kServe, std::memory_order_acquire);
}

template <LineLayout kLayout, bool kPause>
void C2cPartner::serve() noexcept {
  std::uint64_t answered = 0;
  for (;;) {
    const std::uint64_t v = ping_.load(std::memory_order_acquire);
    if constexpr (kLayout == LineLayout::kSharedLine) {
      if (v & 1) {
        ping_.store(v + 1, std::memory_order_release);
        continue;
      }
    } else {
      if (v != answered) {
        pong_.store(v, std::memory_order_release);
        answered = v;
        continue;
      }
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    wait<kPause>();
  }
}

void C2cPartner::partner(int cpu) noexcept {
  if (!pin_this_thread(cpu)) {
    error_ = "the partner thread could not be pinned to the peer CPU";
    started_.store(2, std::memory_order_release);
    started_.notify_one();
    return;
  }
  started_.store(1, std::memory_order_release);
  started_.notify_one();
  for (;;) {
    command_.wait(kIdle, std::memory_order_acquire);
    if (command_.load(std::memory_order_acquire) == kQuit) return;
    const bool shared = protocol_.layout == LineLayout::kSharedLine;
    if (shared && protocol_.pause) serve<LineLayout::kSharedLine, true>();
    if (shared && !protocol_.pause) serve<LineLayout::kSharedLine, false>();
    if (!shared && protocol_.pause) serve<LineLayout::kTwoLines, true>();
    if (!shared && !protocol_.pause) serve<LineLayout::kTwoLines, false>();
    // kQuit only arrives while idle, so this cannot overwrite it.
    command_.store(kIdle, std::memory_order_release);
    command_.notify_one();
  }
}

C2cFloor summarise_c2c(std::span<const Histogram> by_protocol) {
  C2cFloor f;
  const C2cProtocolFigures* best = nullptr;
  for (std::size_t i = 0; i < by_protocol.size() && i < kC2cProtocols.size(); ++i) {
    const Histogram& h = by_protocol[i];
    if (h.count() == 0) continue;
    f.protocols.push_back({kC2cProtocols[i].name, h.quantile(0.50), h.quantile(0.99), h.mean(), h.count()});
  }
  for (const C2cProtocolFigures& p : f.protocols)
    if (best == nullptr || p.p50_ns < best->p50_ns) best = &p;
  if (best == nullptr || !(best->p50_ns > 0)) {
    f.error = "no round trip between the two CPUs could be timed";
    return f;
  }
  f.p50_ns = best->p50_ns;
  f.p99_ns = best->p99_ns;
  f.mean_ns = best->mean_ns;
  f.protocol = best->name;
  return f;
}

const C2cFloor& lower_floor(const C2cFloor& a, const C2cFloor& b) noexcept {
  if (!a.p50_ns) return b;
  if (!b.p50_ns) return a;
  return *b.p50_ns < *a.p50_ns ? b : a;
}

double ratio_to_floor(const Histogram& rtt, const C2cFloor& floor) noexcept {
  if (!floor.p50_ns || rtt.count() == 0) return kNaN;
  return rtt.quantile(0.50) / *floor.p50_ns;
}

C2cFloor measure_c2c_floor(int cpu_a, int cpu_b) {
  TickClock::get();  // calibrate before any timestamp is taken
  C2cFloor failed;
  const ScopedPin pin(cpu_a);
  if (!pin.ok()) {
    failed.error = "the probe thread could not be pinned to the parent CPU";
    return failed;
  }
  C2cPartner partner(cpu_b, cpu_a == cpu_b);
  if (!partner.ok()) {
    failed.error = partner.error();
    return failed;
  }
  std::array<Histogram, kC2cProtocols.size()> rtt_ns;
  for (int block = 0; block < kBlocks; ++block) {
    for (std::size_t k = 0; k < kC2cProtocols.size(); ++k) {
      const std::size_t i = (std::size_t(block) + k) % kC2cProtocols.size();
      run_block(partner, kC2cProtocols[i], rtt_ns[i]);
    }
  }
  return summarise_c2c(rtt_ns);
}

nlohmann::json to_json(const C2cFloor& f) {
  nlohmann::json protocols = nlohmann::json::object();
  for (const C2cProtocolFigures& p : f.protocols)
    protocols[p.name] = {{"p50_ns", p.p50_ns}, {"p99_ns", p.p99_ns}, {"mean_ns", p.mean_ns}, {"trips", p.trips}};
  return {
      {"c2c_rtt_ns", or_null(f.p50_ns)},
      {"c2c_rtt_p99_ns", or_null(f.p99_ns)},
      {"c2c_rtt_mean_ns", or_null(f.mean_ns)},
      {"c2c_protocol", f.protocol.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.protocol)},
      {"c2c_protocols", protocols},
      {"c2c_definition", kC2cDefinition},
  };
}

}  // namespace ipcm
