// The floor family: each floor probe as a Google Benchmark, so the references appear in the
// results beside the transports they bound, with GB's repetitions and statistics. The
// one-shot floors (harness/core/floors.h) feed ratio_to_floor; these are for looking at.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <optional>

#include <benchmark/benchmark.h>

#include "bench/suite.h"
#include "harness/core/buffer.h"
#include "harness/core/clock.h"
#include "harness/core/floors.h"
#include "harness/core/histogram.h"

namespace ipcm {
namespace {

constexpr double kSecondsPerNs = 1e-9;
// Non-zero, so no layer can treat the source as untouched zero pages.
constexpr unsigned char kSourceFill = 0xA5;

constexpr const char* kPinRefused = "the benchmark thread could not be pinned to the parent CPU";

void bm_c2c_rtt(benchmark::State& state, const Placement& p) {
  const TickClock& clock = TickClock::get();
  const int parent = parent_cpu_of(p);
  const int peer = peer_cpu_of(p);
  const ScopedPin pin(parent);
  if (!pin.ok()) {
    skip(state, kPinRefused);
    return;
  }
  C2cPartner partner(peer, parent == peer);  // runs until partner is destroyed
  if (!partner.ok()) {
    skip(state, partner.error());
    return;
  }
  // Always the first protocol (one shared line, pause in the wait), whichever wins the
  // floor: a benchmark name keeps one meaning across runs. floors.c2c_protocols has all.
  static_assert(kC2cProtocols[0].layout == LineLayout::kSharedLine && kC2cProtocols[0].pause);
  partner.begin_protocol(kC2cProtocols[0]);
  Histogram rtt_ns;
  for (auto _ : state) {
    const std::uint64_t t0 = TickClock::now();
    partner.round_trip<LineLayout::kSharedLine, true>();
    const std::uint64_t ticks = TickClock::now() - t0;
    rtt_ns.record(clock.to_ns_fast(ticks));
    state.SetIterationTime(clock.to_ns(ticks) * kSecondsPerNs);
  }
  partner.end_protocol();
  state.SetItemsProcessed(state.iterations());
  state.counters["rtt_p50_ns"] = rtt_ns.quantile(0.50);
  state.counters["rtt_p99_ns"] = rtt_ns.quantile(0.99);
}

void bm_memcpy(benchmark::State& state, const Placement& p, std::size_t bytes) {
  const ScopedPin pin(parent_cpu_of(p));
  if (!pin.ok()) {
    skip(state, kPinRefused);
    return;
  }
  std::optional<AlignedBuffer> src, dst;
  try {
    src.emplace(bytes);  // zero-filled, so every page is faulted in before the loop
    dst.emplace(bytes);
  } catch (const std::bad_alloc&) {
    skip(state, "the copy buffers could not be allocated");
    return;
  }
  std::memset(src->data(), kSourceFill, bytes);
  const std::byte* from = src->data();
  std::byte* to = dst->data();
  std::memcpy(to, from, bytes);  // hot buffers, as in the floor
  for (auto _ : state) {
    std::memcpy(to, from, bytes);
    benchmark::DoNotOptimize(to);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
}

void bm_syscall(benchmark::State& state, const Placement& p) {
  const ScopedPin pin(parent_cpu_of(p));
  if (!pin.ok()) {
    skip(state, kPinRefused);
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(syscall(SYS_getppid));
  state.SetItemsProcessed(state.iterations());
}

void bm_timer(benchmark::State& state, const Placement& p) {
  TickClock::get();  // calibrated before the first read, so now() reads the final source
  const ScopedPin pin(parent_cpu_of(p));
  if (!pin.ok()) {
    skip(state, kPinRefused);
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(TickClock::now());
  state.SetItemsProcessed(state.iterations());
}

struct Probe {
  const char* name;
  bool manual_time;
  void (*run)(benchmark::State&, const Placement&);
};
// The probes, named once: registration and --describe's probe key both read this list.
const Probe kProbes[] = {
    {"c2c_rtt", true, [](benchmark::State& s, const Placement& p) { bm_c2c_rtt(s, p); }},
    {"memcpy_cache", false, [](benchmark::State& s, const Placement& p) { bm_memcpy(s, p, kCacheProbeBytes); }},
    {"memcpy_dram", false, [](benchmark::State& s, const Placement& p) { bm_memcpy(s, p, dram_probe_bytes()); }},
    {"syscall", false, [](benchmark::State& s, const Placement& p) { bm_syscall(s, p); }},
    {"timer", false, [](benchmark::State& s, const Placement& p) { bm_timer(s, p); }},
};

void add_floor_benchmarks(const Profile&, const Placement& p) {
  for (const Probe& probe : kProbes)
    add_benchmark(std::string("floor/probe:") + probe.name, [p, run = probe.run](benchmark::State& s) { run(s, p); },
                  probe.manual_time);
}

FamilyDef floor_family() {
  return {.name = "floor",
          .keys = {{"probe", Unit::kName, [] { return words_of(kProbes, [](const Probe& p) { return p.name; }); }}},
          .counters = {{"real_time_ns", Unit::kNs, kLow, true, false},  // Google Benchmark's real_time, in ns
                       {"rtt_p50_ns", Unit::kNs, kLow, false, false},
                       {"rtt_p99_ns", Unit::kNs, kLow, false, false},
                       {"items_per_second", Unit::kPerSecond, kHigh, false, false},
                       {"bytes_per_second", Unit::kBytesPerSecond, kHigh, false, false}},
          .add_benchmarks = add_floor_benchmarks};
}

}  // namespace

static const FamilyRegistrar kRegistrar(floor_family);

}  // namespace ipcm
