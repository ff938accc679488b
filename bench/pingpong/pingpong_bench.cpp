// pingpong/transport:T/peer:P/size:B[/wait:W] — round-trip latency. Every round trip is timed
// into a log-linear histogram; the percentiles, the CPU both sides spent, and the ratio to
// the core-to-core floor are reported. The floor is measured again right before and right
// after each run, between the same two CPUs, and the lower of the two is the row's: on a VM
// whose host moves vCPUs it changes severalfold within a minute and by ±10% within one
// placement, a ratio is only meaningful against the floor of the moment, and one probe that
// lands in a slow moment would put a transport "below the hardware".
#include <benchmark/benchmark.h>

#include "bench/mpi/mpi_rows.h"
#include "bench/suite.h"
#include "harness/core/c2c_floor.h"
#include "harness/core/histogram.h"
#include "harness/core/kernel_counters.h"
#include "harness/launch/session.h"
#include "bench/pingpong/pingpong.h"
#include "bench/pingpong/pingpong_row.h"

namespace ipcm {
namespace {

// Round trips need one message in flight each way.
constexpr std::size_t kPingpongDepth = 1;
// Untimed round trips first: the first trips pay for page faults on fresh buffers, cold
// caches and the peer's first wake-up, none of which is the steady state reported.
constexpr int kWarmupRoundTrips = 64;
// A probe this recent (the one after the previous run of this row, when Google Benchmark
// sizes a row by running it again at once) serves as the probe before.
constexpr std::chrono::milliseconds kFloorReuse{50};

}  // namespace

void measure_pingpong_row(benchmark::State& state, const LinkVariant& v, std::uint64_t delay_loops,
                          const Placement& where) {
  // The parent side runs where the placement says for this row (unpinned: anywhere allowed),
  // and gets its suite-wide CPU back afterwards.
  const ScopedPin pin = where.pinned ? ScopedPin(parent_cpu_of(where)) : ScopedPin(where.allowed_cpus);
  const bool pinned_pair = parent_cpu_of(where) >= 0 && peer_cpu_of(where) >= 0;
  SessionOptions opt;
  opt.transport = v.transport;
  opt.peer = v.peer;
  opt.role = Role::kEcho;
  opt.cfg.msg_bytes = v.size;
  opt.cfg.depth = kPingpongDepth;
  opt.cfg.wait = v.wait.value_or(Wait::kBlock);
  opt.peer_cpu = peer_cpu_of(where);
  const C2cFloor floor_before =
      pinned_pair ? recent_c2c_floor(parent_cpu_of(where), opt.peer_cpu, kFloorReuse) : C2cFloor{};
  Made<Session> made = Session::start(opt);
  if (!made) return skip(state, made.error);
  Session& s = *made.value;
  MessageSet ms(v.size);
  Histogram rtt;
  std::uint64_t seq = 0;
  {
    Histogram discarded;
    int warmup = kWarmupRoundTrips;
    const Status st =
        pingpong_loop(s.channel(), ms, discarded, s.progress(), delay_loops, seq, [&] { return warmup-- > 0; });
    if (!st) return skip(state, s.explain(st));
  }

  KernelCounters kernel(s.counted_tasks());
  std::uint64_t cpu0 = 0, peer_cpu0 = 0, cpu1 = 0, peer_cpu1 = 0;
  Status st = Status::Ok();
  // The row's one iteration (Iterations(1)): round trips for the row's time, every one timed.
  for (auto _ : state) {
    cpu0 = thread_cpu_ns(), peer_cpu0 = s.peer_cpu_ns();
    // Inside the CPU-time reads, so their system calls are not counted.
    kernel.start();
    RowBudget budget(suite().row_seconds);
    st = pingpong_loop(s.channel(), ms, rtt, s.progress(), delay_loops, seq, [&] { return budget.more(); });
    if (st) st = s.request_stop(ms, seq);
    kernel.stop();
    cpu1 = thread_cpu_ns(), peer_cpu1 = s.peer_cpu_ns();
  }
  if (st) st = s.finish(ms, seq);
  if (!st) return skip(state, s.explain(st));

  // Google Benchmark's Time column is the mean of the timed round trips, as rtt_mean_ns,
  // rather than the loop's pace with the harness's bookkeeping between trips.
  report_round_trips(state, rtt, /*one_iteration=*/true);
  const std::uint64_t timed = rtt.count();
  auto& c = state.counters;
  // Two messages per round trip; both sides' CPU, so spinning shows as cost.
  if (timed > 0) c["cpu_ns_per_msg"] = double((cpu1 - cpu0) + (peer_cpu1 - peer_cpu0)) / double(2 * timed);
  // Over the same interval as the CPU time, per message likewise.
  for (const auto& [name, per_msg] : per_message(kernel.counts(), 2 * timed)) c[name] = per_msg;
  // After the peer is gone, so the probe has both CPUs to itself as the one before did.
  const C2cFloor floor =
      pinned_pair ? lower_floor(floor_before, measure_c2c_floor(parent_cpu_of(where), opt.peer_cpu)) : C2cFloor{};
  // Per-trip p50 over per-trip p50 (harness/core/c2c_floor.h): the same statistic on both sides.
  if (floor.p50_ns) {
    c["ratio_to_floor"] = ratio_to_floor(rtt, floor);
    c["floor_c2c_rtt_ns"] = *floor.p50_ns;
    c["floor_c2c_rtt_p99_ns"] = *floor.p99_ns;
  }
}

void report_round_trips(benchmark::State& state, const Histogram& rtt, bool one_iteration) {
  const std::uint64_t timed = rtt.count();
  auto& c = state.counters;
  if (one_iteration) {
    // The whole row was one iteration: the Time column is still the mean trip, and the rate
    // is the trips' (not Google Benchmark's items over that one iteration's time).
    state.SetIterationTime(rtt.mean() * 1e-9);
    if (timed > 0) c["items_per_second"] = 1e9 / rtt.mean();
  } else {
    state.SetIterationTime(rtt.mean() * double(timed) * 1e-9);
    state.SetItemsProcessed(std::int64_t(timed));
  }
  c["rtt_p50_ns"] = rtt.quantile(0.50);
  c["rtt_p90_ns"] = rtt.quantile(0.90);
  c["rtt_p99_ns"] = rtt.quantile(0.99);
  c["rtt_p999_ns"] = rtt.quantile(0.999);
  c["rtt_max_ns"] = double(rtt.max());
  c["rtt_mean_ns"] = rtt.mean();
}

std::vector<CounterDef> pingpong_row_counters(bool every_row_pinned) {
  return with_kernel_counters({{"rtt_p50_ns", Unit::kNs, kLow, true, true},
                               {"rtt_p99_ns", Unit::kNs, kLow, true, true},
                               {"rtt_p90_ns", Unit::kNs, kLow, false, true},
                               {"rtt_p999_ns", Unit::kNs, kLow, false, true},
                               {"rtt_max_ns", Unit::kNs, kLow, false, true},
                               {"rtt_mean_ns", Unit::kNs, kLow, false, true},
                               {"cpu_ns_per_msg", Unit::kNs, kLow, false, true},
                               // a latency over the core-to-core floor: lower is better
                               {"ratio_to_floor", Unit::kRatio, kLow, false, every_row_pinned},
                               {"items_per_second", Unit::kPerSecond, kHigh, false, true},
                               {"floor_c2c_rtt_ns", Unit::kNs, kFact, false, false},
                               {"floor_c2c_rtt_p99_ns", Unit::kNs, kFact, false, false}});
}

namespace {

void run(benchmark::State& state, const LinkVariant& v, std::uint64_t delay_loops) {
  measure_pingpong_row(state, v, delay_loops, suite().placement);
}

FamilyDef pingpong_family() {
  return {.name = "pingpong",
          .keys = link_keys_with_mpi(),
          .counters = pingpong_row_counters(true),
          .repeated_by_profile = true,
          .add_benchmarks =
              [](const Profile& p, const Placement&) {
                add_link_benchmarks(p, "pingpong", run);
                add_mpi_link_rows(p, "pingpong");
              }};
}

}  // namespace

static const FamilyRegistrar kRegistrar(pingpong_family);

}  // namespace ipcm
