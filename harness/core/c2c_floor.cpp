#include "harness/core/c2c_floor.h"

#include <cmath>
#include <limits>
#include <mutex>
#include <system_error>

#include "harness/core/clock.h"
#include "harness/core/env.h"

namespace ipcm {
namespace {

// One block per protocol and address, the protocols taking turns at each address: a host
// that moves the vCPUs mid-probe (the floor here jumps between ~90 and ~1100 ns) then
// shifts every protocol alike instead of handing the win to whichever ran in the quiet
// moment.
// Brings the lines into the two caches and the partner into its serve loop before timing.
constexpr int kWarmupTripsPerBlock = 32;
// The p50 of 120 trips is stable to a bucket or two of the timer (10-20 ns here).
constexpr int kTimedTripsPerBlock = 120;

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

void run_block(C2cPartner& partner, const C2cProtocol& p, std::size_t address, Histogram& rtt_ns) noexcept {
  partner.begin_protocol(p, address);
  with_protocol(p, [&]<LineLayout kLayout, bool kPause>() { timed_block<kLayout, kPause>(partner, rtt_ns); });
  partner.end_protocol();
}

// The last probe: its CPU pair, when it ended, what it found.
struct LastProbe {
  int cpu_a = -1, cpu_b = -1;
  std::chrono::steady_clock::time_point at;
  C2cFloor floor;
};
std::mutex& last_probe_mutex() {
  static std::mutex m;
  return m;
}
LastProbe& last_probe() {
  static LastProbe p;
  return p;
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
  thread_.join();
}

void C2cPartner::begin_protocol(const C2cProtocol& p, std::size_t address) noexcept {
  // The partner is idle here, so the lines can be moved and reset without a race.
  address %= kC2cAddresses;
  ping_ = &lines_[address * kLinesPerAddress].value;
  pong_ = &lines_[address * kLinesPerAddress + 2].value;
  ping_->store(0, std::memory_order_relaxed);
  pong_->store(0, std::memory_order_relaxed);
  stop_.store(false, std::memory_order_relaxed);
  next_ = 1;
  protocol_ = p;
  command_.store(kServe, std::memory_order_release);
}

void C2cPartner::end_protocol() noexcept {
  // Every trip was answered before round_trip() returned, so nothing is left pending.
  stop_.store(true, std::memory_order_relaxed);
  // Both sides spin between blocks (yielding when they share a CPU): a futex wake-up costs
  // ~20-50 us on this VM, and a probe hands over 64 times.
  while (command_.load(std::memory_order_acquire) == kServe) wait<true>();
}

template <LineLayout kLayout, bool kPause>
void C2cPartner::serve() noexcept {
  std::uint64_t answered = 0;
  std::atomic<std::uint64_t>& ping = *ping_;
  std::atomic<std::uint64_t>& pong = *pong_;
  for (;;) {
    const std::uint64_t v = ping.load(std::memory_order_acquire);
    if constexpr (kLayout == LineLayout::kSharedLine) {
      if (v & 1) {
        ping.store(v + 1, std::memory_order_release);
        continue;
      }
    } else {
      if (v != answered) {
        pong.store(v, std::memory_order_release);
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
    while (command_.load(std::memory_order_acquire) == kIdle) wait<true>();
    if (command_.load(std::memory_order_acquire) == kQuit) return;
    with_protocol(protocol_, [this]<LineLayout kLayout, bool kPause>() { serve<kLayout, kPause>(); });
    // kQuit only arrives while idle, so this cannot overwrite it.
    command_.store(kIdle, std::memory_order_release);
  }
}

C2cFloor summarise_c2c(std::span<const Histogram> by_candidate) {
  C2cFloor f;
  const Histogram* best = nullptr;
  for (std::size_t p = 0; p < kC2cProtocols.size(); ++p) {
    C2cProtocolFigures fig;
    fig.name = kC2cProtocols[p].name;
    const Histogram* mine = nullptr;
    for (std::size_t a = 0; a < kC2cAddresses; ++a) {
      const std::size_t i = p * kC2cAddresses + a;
      const Histogram* h = i < by_candidate.size() ? &by_candidate[i] : nullptr;
      const bool timed = h != nullptr && h->count() > 0;
      fig.p50_ns_by_address.push_back(timed ? h->quantile(0.50) : 0.0);
      if (!timed) continue;
      fig.trips += h->count();
      if (mine == nullptr || h->quantile(0.50) < mine->quantile(0.50)) {
        mine = h;
        fig.best_address = a;
      }
    }
    if (mine == nullptr) continue;
    fig.p50_ns = mine->quantile(0.50);
    fig.p99_ns = mine->quantile(0.99);
    fig.mean_ns = mine->mean();
    if (best == nullptr || fig.p50_ns < best->quantile(0.50)) {
      best = mine;
      f.protocol = fig.name;
    }
    f.protocols.push_back(std::move(fig));
  }
  if (best == nullptr || !(best->quantile(0.50) > 0)) {
    f.error = "no round trip between the two CPUs could be timed";
    f.protocol.clear();
    return f;
  }
  f.p50_ns = best->quantile(0.50);
  f.p99_ns = best->quantile(0.99);
  f.mean_ns = best->mean();
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

C2cFloor recent_c2c_floor(int cpu_a, int cpu_b, std::chrono::milliseconds max_age) {
  {
    const std::lock_guard lock(last_probe_mutex());
    const LastProbe& p = last_probe();
    if (p.cpu_a == cpu_a && p.cpu_b == cpu_b && std::chrono::steady_clock::now() - p.at <= max_age) return p.floor;
  }
  return measure_c2c_floor(cpu_a, cpu_b);
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
  std::vector<Histogram> rtt_ns(kC2cCandidates);
  for (std::size_t a = 0; a < kC2cAddresses; ++a) {
    for (std::size_t k = 0; k < kC2cProtocols.size(); ++k) {
      const std::size_t p = (a + k) % kC2cProtocols.size();
      run_block(partner, kC2cProtocols[p], a, rtt_ns[p * kC2cAddresses + a]);
    }
  }
  C2cFloor floor = summarise_c2c(rtt_ns);
  const std::lock_guard lock(last_probe_mutex());
  last_probe() = {cpu_a, cpu_b, std::chrono::steady_clock::now(), floor};
  return floor;
}

nlohmann::json to_json(const C2cFloor& f) {
  nlohmann::json protocols = nlohmann::json::object();
  for (const C2cProtocolFigures& p : f.protocols)
    protocols[p.name] = {{"p50_ns", p.p50_ns},         {"p99_ns", p.p99_ns},
                         {"mean_ns", p.mean_ns},       {"trips", p.trips},
                         {"best_address", p.best_address}, {"p50_ns_by_address", p.p50_ns_by_address}};
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
