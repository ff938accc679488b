#include "harness/core/floors.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "harness/core/buffer.h"
#include "harness/core/c2c_copy.h"
#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "bench/spawn/rss.h"

namespace ipcm {
namespace {

// Batches per probe: the median of 11 shrugs off up to 5 preempted batches.
constexpr int kBatches = 11;
constexpr long kSyscallsPerBatch = 2000;
constexpr long kTimerReadsPerBatch = 10000;

// memcpy: ~1 ms batches, 7 of them, so one size costs 5-10 ms unless a copy alone is longer.
constexpr int kMemcpyBatches = 7;
constexpr double kMemcpyBatchNs = 1e6;
// The copy count is doubled until a run lasts this long, long enough to size the batches.
constexpr double kMemcpyCalibrationNs = 50e3;
constexpr long kMaxCopiesPerBatch = 1L << 24;
constexpr unsigned char kSourceFill = 0xA5;

// Far beyond any last-level cache, so the copy streams from DRAM.
constexpr std::size_t kDramMinBytes = 64u << 20;
constexpr std::size_t kDramLlcMultiple = 4;
// Two buffers together take at most this fraction of MemAvailable.
constexpr std::size_t kDramMemAvailableDivisor = 8;
constexpr std::size_t kPageBytes = 4096;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Tells the compiler the value is used and memory was read, so copies and reads stay in
// the timed loop; costs no instruction.
template <class T>
inline void keep(const T& value) noexcept {
  asm volatile("" : : "r,m"(value) : "memory");
}

template <std::size_t N>
double median(std::array<double, N> v, int n) {
  auto mid = v.begin() + n / 2;
  std::nth_element(v.begin(), mid, v.begin() + n);
  return *mid;
}

// Median over `batches` of the time per op, each batch `ops` calls of body timed as a whole,
// so the clock's own cost is spread over thousands of ops.
template <class Body>
double median_ns_per_op(int batches, long ops, Body&& body) {
  const TickClock& clock = TickClock::get();
  std::array<double, std::max(kBatches, kMemcpyBatches)> ns{};
  IPCM_CHECK(batches > 0 && batches <= int(ns.size()));
  for (int b = 0; b < batches; ++b) {
    const std::uint64_t t0 = TickClock::now();
    for (long i = 0; i < ops; ++i) body();
    const std::uint64_t t1 = TickClock::now();
    ns[b] = clock.to_ns(t1 - t0) / double(ops);
  }
  return median(ns, batches);
}

std::optional<double> known(double v) {
  return std::isfinite(v) && v > 0 ? std::optional<double>(v) : std::nullopt;
}

// Copies between two fresh buffers on the current CPU, uncached.
double measure_memcpy(std::size_t bytes) {
  if (bytes == 0) return kNaN;
  std::optional<AlignedBuffer> src, dst;
  try {
    src.emplace(bytes);  // zero-filled, so every page is already faulted in
    dst.emplace(bytes);
  } catch (const std::bad_alloc&) {
    return kNaN;
  }
  std::memset(src->data(), kSourceFill, bytes);
  // Stay on this CPU: a migration mid-batch would both stall and cool the buffers.
  const ScopedPin stay(sched_getcpu());

  const std::byte* from = src->data();
  std::byte* to = dst->data();
  const auto copy = [from, to, bytes]() noexcept {
    std::memcpy(to, from, bytes);
    keep(to);
  };
  copy();  // warms the caches and the TLB

  long copies = 1;
  double ns = 0;
  for (;;) {
    const std::uint64_t t0 = TickClock::now();
    for (long i = 0; i < copies; ++i) copy();
    ns = TickClock::get().to_ns(TickClock::now() - t0);
    if (ns >= kMemcpyCalibrationNs || copies >= kMaxCopiesPerBatch) break;
    copies *= 2;
  }
  const long per_batch =
      std::clamp(long(double(copies) * kMemcpyBatchNs / std::max(ns, 1.0)), 1L, kMaxCopiesPerBatch);
  const double ns_per_copy = median_ns_per_op(kMemcpyBatches, per_batch, copy);
  return double(bytes) / ns_per_copy;  // bytes per ns == GB/s
}

// The memcpy reference per size. One lock for measuring too: two probes running at once
// would each measure the other.
std::mutex& memcpy_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::size_t, double>& memcpy_cache() {
  static std::map<std::size_t, double> cache;
  return cache;
}

// Always measures, for the floors; the first result per size stays the cached reference so
// every ratio_to_memcpy of a run uses the same denominator.
double fresh_memcpy_gbps(std::size_t bytes) {
  const std::lock_guard lock(memcpy_mutex());
  const double gbps = measure_memcpy(bytes);
  if (std::isfinite(gbps)) memcpy_cache().emplace(bytes, gbps);
  return gbps;
}

double syscall_probe_ns() {
  return median_ns_per_op(kBatches, kSyscallsPerBatch, [] {
    const long r = syscall(SYS_getppid);
    keep(r);
  });
}

double timer_probe_ns() {
  return median_ns_per_op(kBatches, kTimerReadsPerBatch, [] {
    const std::uint64_t t = TickClock::now();
    keep(t);
  });
}

nlohmann::json or_null(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

double memcpy_gbps(std::size_t bytes) {
  TickClock::get();
  const std::lock_guard lock(memcpy_mutex());
  auto& cache = memcpy_cache();
  if (const auto it = cache.find(bytes); it != cache.end()) return it->second;
  const double gbps = measure_memcpy(bytes);
  if (std::isfinite(gbps)) cache.emplace(bytes, gbps);
  return gbps;
}

std::map<std::size_t, double> memcpy_sizes_measured() {
  const std::lock_guard lock(memcpy_mutex());
  return memcpy_cache();
}

std::size_t dram_probe_bytes() {
  std::size_t bytes = std::max(kDramLlcMultiple * std::size_t(llc_bytes().value_or(0)), kDramMinBytes);
  if (const auto available = mem_available_bytes(); available && *available > 0)
    bytes = std::min(bytes, std::size_t(*available) / kDramMemAvailableDivisor / 2);
  return bytes / kPageBytes * kPageBytes;
}

// The smallest non-zero difference between two consecutive reads of the tick clock.
double timer_resolution_ns() {
  constexpr int kReads = 100000;
  std::uint64_t best = ~0ull;
  std::uint64_t prev = TickClock::now();
  for (int i = 0; i < kReads; ++i) {
    const std::uint64_t now = TickClock::now();
    if (now != prev && now - prev < best) best = now - prev;
    prev = now;
  }
  return best == ~0ull ? kNaN : TickClock::get().to_ns(best);
}

Floors measure_floors(const Placement& p, std::span<const std::size_t> streamed_sizes, FloorScope scope) {
  TickClock::get();
  Floors f;
  f.scope = scope;
  f.c2c = measure_c2c_floor(parent_cpu_of(p), peer_cpu_of(p));
  if (scope == FloorScope::kC2cRtt) {
    // What rows asked memcpy_gbps() for is still the reference their ratios used.
    f.memcpy_gbps_by_size = memcpy_sizes_measured();
    return f;
  }
  {
    // The one-thread probes run where the parent side runs; unpinned if that is refused,
    // since they do not depend on a pair of CPUs.
    const ScopedPin pin(parent_cpu_of(p));
    f.memcpy_gbps_cache = known(fresh_memcpy_gbps(kCacheProbeBytes));
    f.memcpy_gbps_dram = known(fresh_memcpy_gbps(dram_probe_bytes()));
    f.syscall_ns = known(syscall_probe_ns());
    f.timer_ns = known(timer_probe_ns());
    f.timer_resolution_ns = known(timer_resolution_ns());
  }
  f.memcpy_gbps_by_size = memcpy_sizes_measured();
  for (const std::size_t bytes : streamed_sizes) {
    const double gbps = measure_c2c_copy_gbps(bytes, peer_cpu_of(p), parent_cpu_of(p));
    if (std::isfinite(gbps)) f.c2c_copy_gbps_by_size[bytes] = gbps;
  }
  for (const Where where : kWhereNames.values()) {
    Sited sited = place(where, p.allowed_cpus);
    PlacementFloor pf{where, std::move(sited.placement), std::move(sited.lacking), {}};
    if (pf.lacking.empty() && pf.placement.pinned)
      pf.c2c = measure_c2c_floor(pf.placement.parent_cpu, pf.placement.peer_cpu);
    f.c2c_by_placement.push_back(std::move(pf));
  }
  return f;
}

nlohmann::json to_json(const Floors& f) {
  const auto by_size_json = [](const std::map<std::size_t, double>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [bytes, gbps] : m) j[std::to_string(bytes)] = gbps;
    return j;
  };
  nlohmann::json out = to_json(f.c2c);
  out.update({
      {"measured", kFloorScopeNames.name(f.scope)},
      {"memcpy_gbps_cache", or_null(f.memcpy_gbps_cache)},
      {"memcpy_gbps_dram", or_null(f.memcpy_gbps_dram)},
      {"syscall_ns", or_null(f.syscall_ns)},
      {"timer_ns", or_null(f.timer_ns)},
      {"timer_resolution_ns", or_null(f.timer_resolution_ns)},
      {"memcpy_gbps_by_size", by_size_json(f.memcpy_gbps_by_size)},
      {"c2c_copy_gbps_by_size", by_size_json(f.c2c_copy_gbps_by_size)},
  });
  nlohmann::json by_placement = nlohmann::json::object();
  for (const PlacementFloor& pf : f.c2c_by_placement) {
    nlohmann::json& j = by_placement[std::string(kWhereNames.name(pf.where))];
    if (!pf.lacking.empty()) {
      j = {{"lacking", pf.lacking}};
      continue;
    }
    j = to_json(pf.c2c);
    // The protocol breakdown is the main floor's; here the winner says enough.
    j.erase("c2c_protocols");
    j.erase("c2c_definition");
    j["parent_cpu"] = pf.placement.pinned ? nlohmann::json(pf.placement.parent_cpu) : nlohmann::json(nullptr);
    j["peer_cpu"] = pf.placement.pinned ? nlohmann::json(pf.placement.peer_cpu) : nlohmann::json(nullptr);
    j["reason"] = pf.placement.pinned ? pf.placement.reason
                                      : "unpinned: the sides have no fixed pair of CPUs, so there is no pair to probe";
  }
  out["c2c_by_placement"] = std::move(by_placement);
  if (const auto& n = f.net) {
    out.update({
        {"net_peer_host", n->peer_host},
        {"net_local_address", n->local_address},
        {"net_peer_address", n->peer_address},
        {"net_rtt_ns", n->rtt_p50_ns},
        {"net_rtt_p99_ns", n->rtt_p99_ns},
        {"net_rtt_mean_ns", n->rtt_mean_ns},
        {"net_rtt_protocol", n->rtt_protocol},
        {"net_rtt_p50_ns_by_protocol", n->rtt_p50_ns_by_protocol},
        {"net_rtt_trips", n->trips},
        {"net_gbps", n->gbps},
        {"net_gbps_batch_bytes", n->batch_bytes},
        {"net_gbps_batches", n->batches},
    });
  }
  return out;
}

std::vector<std::string> drift_warnings(const Floors& start, const Floors& end, double limit) {
  static const std::pair<const char*, std::optional<double> Floors::*> kProbes[] = {
      {"memcpy_gbps_cache", &Floors::memcpy_gbps_cache},
      {"memcpy_gbps_dram", &Floors::memcpy_gbps_dram},
      {"syscall_ns", &Floors::syscall_ns},
      {"timer_ns", &Floors::timer_ns},
  };
  struct StartEnd {
    const char* name;
    std::optional<double> a, b;
  };
  std::vector<StartEnd> pairs{{"c2c_rtt_ns", start.c2c.p50_ns, end.c2c.p50_ns}};
  if (start.net && end.net) {
    pairs.push_back({"net_rtt_ns", start.net->rtt_p50_ns, end.net->rtt_p50_ns});
    pairs.push_back({"net_gbps", start.net->gbps, end.net->gbps});
  }
  for (const auto& [name, member] : kProbes) pairs.push_back({name, start.*member, end.*member});
  std::vector<std::string> warnings;
  for (const auto& [name, a, b] : pairs) {
    if (!a || !b || *a <= 0) continue;
    const double change = std::abs(*b - *a) / *a;
    if (!(change > limit)) continue;
    char sentence[160];
    std::snprintf(sentence, sizeof sentence,
                  "floor %s drifted %.0f%% during the run (start %.1f, end %.1f)", name,
                  change * 100, *a, *b);
    warnings.emplace_back(sentence);
  }
  return warnings;
}

}  // namespace ipcm
