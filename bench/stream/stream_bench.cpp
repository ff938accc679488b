// stream/transport:T/peer:P/size:B[/wait:W] — one-way throughput with a bounded window. The
// clock stops when the receiver acknowledges the last message, so every message counted has
// arrived and passed its check.
#include <benchmark/benchmark.h>

#include "bench/mpi/mpi_rows.h"
#include "bench/suite.h"
#include "harness/core/c2c_copy.h"
#include "harness/core/floors.h"
#include "harness/core/kernel_counters.h"
#include "harness/launch/session.h"
#include "bench/stream/stream.h"

namespace ipcm {
namespace {

void run(benchmark::State& state, const LinkVariant& v, std::uint64_t delay_loops) {
  SessionOptions opt;
  opt.transport = v.transport;
  opt.peer = v.peer;
  opt.role = Role::kSink;
  opt.cfg.msg_bytes = v.size;
  opt.cfg.depth = kStreamWindow;
  opt.cfg.wait = v.wait.value_or(Wait::kBlock);
  opt.peer_cpu = peer_cpu_of(suite().placement);
  // The references are measured before the session exists, never while a peer spins. The
  // stream writes on the parent's CPU and reads on the peer's, as the copy floor does.
  const double memcpy_ref = memcpy_gbps(v.size);
  const double copy_floor = c2c_copy_gbps(v.size, opt.peer_cpu, parent_cpu_of(suite().placement));
  Made<Session> made = Session::start(opt);
  if (!made) return skip(state, made.error);
  Session& s = *made.value;
  MessageSet ms(v.size);
  std::uint64_t seq = 0;

  KernelCounters kernel(s.counted_tasks());
  std::uint64_t cpu0 = 0, peer_cpu0 = 0, cpu1 = 0, peer_cpu1 = 0, t0 = 0, t1 = 0;
  Status st = Status::Ok();
  // The row's one iteration (Iterations(1)): messages for the row's time.
  for (auto _ : state) {
    cpu0 = thread_cpu_ns(), peer_cpu0 = s.peer_cpu_ns();
    // Inside the CPU-time reads, so their system calls are not counted.
    kernel.start();
    RowBudget budget(suite().row_seconds);
    t0 = TickClock::now();
    st = stream_loop(s.channel(), ms, s.progress(), delay_loops, seq, [&] { return budget.more(); });
    if (st) st = s.request_stop(ms, seq);
    t1 = TickClock::now();
    kernel.stop();
    cpu1 = thread_cpu_ns(), peer_cpu1 = s.peer_cpu_ns();
  }
  if (st) st = s.finish(ms, seq);
  if (!st) return skip(state, s.explain(st));
  if (seq == 0) return skip(state, "no message was streamed within the row's time");

  const double seconds = TickClock::get().to_ns(t1 - t0) * 1e-9;
  // One iteration for the whole row: the Time column is per message, as before, and the
  // rates are set here rather than left to Google Benchmark's items over that one iteration.
  state.SetIterationTime(seconds / double(seq));
  // Bytes over elapsed time here and on every side of the ratios (harness/core/c2c_copy.h).
  const double bytes_per_second = double(seq * v.size) / seconds;
  auto& c = state.counters;
  c["items_per_second"] = double(seq) / seconds;
  c["bytes_per_second"] = bytes_per_second;
  c["cpu_ns_per_msg"] = double((cpu1 - cpu0) + (peer_cpu1 - peer_cpu0)) / double(seq);
  for (const auto& [name, per_msg] : per_message(kernel.counts(), seq)) c[name] = per_msg;
  if (seconds > 0 && memcpy_ref > 0) c["ratio_to_memcpy"] = bytes_per_second / (memcpy_ref * 1e9);
  if (seconds > 0 && copy_floor > 0) c["ratio_to_floor"] = bytes_per_second / (copy_floor * 1e9);
  // What the row really had in flight: rings and queues hold the window, pipes and sockets
  // hold what their buffer allows (tcp cannot tell, and the counter is then absent).
  if (const auto w = s.window_msgs()) c["window_msgs"] = double(*w);
}

FamilyDef stream_family() {
  return {.name = "stream",
          .keys = link_keys_with_mpi(),
          .counters = with_kernel_counters({{"bytes_per_second", Unit::kBytesPerSecond, kHigh, true, true},
                       {"items_per_second", Unit::kPerSecond, kHigh, true, true},
                       {"cpu_ns_per_msg", Unit::kNs, kLow, false, true},
                       {"ratio_to_memcpy", Unit::kRatio, kHigh, false, true},
                       // bytes/s over the cross-core copy floor: higher is better
                       {"ratio_to_floor", Unit::kRatio, kHigh, false, true},
                       {"window_msgs", Unit::kCount, kFact, false, false}}),
          .repeated_by_profile = true,
          .add_benchmarks =
              [](const Profile& p, const Placement&) {
                add_link_benchmarks(p, "stream", run);
                add_mpi_link_rows(p, "stream");
              }};
}

}  // namespace

static const FamilyRegistrar kRegistrar(stream_family);

}  // namespace ipcm
