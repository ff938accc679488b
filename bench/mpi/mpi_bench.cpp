// pingpong and stream over MPI point-to-point between rank 0 (this process) and rank 1 (the
// peer mpirun started): MPI_Send/MPI_Recv round trips, an MPI_Isend/MPI_Irecv window. The
// counters are the native families' and mean the same: round trips timed one by one into the
// same histogram after the same warm-up, a stream timed from the first send to rank 1's
// acknowledgement of the stop, every message stamped and checked (harness/core/message.h).
#include <benchmark/benchmark.h>

#include "bench/mpi/mpi_rows.h"
#include "bench/pingpong/pingpong.h"
#include "bench/pingpong/pingpong_row.h"
#include "bench/stream/stream.h"
#include "bench/suite.h"
#include "harness/core/c2c_copy.h"
#include "harness/core/c2c_floor.h"
#include "harness/core/floors.h"
#include "harness/mpi/mpi_link.h"

namespace ipcm {
namespace {

// As the native pingpong: untimed round trips first, and a recent floor probe reused.
constexpr int kWarmupRoundTrips = 64;
constexpr std::chrono::milliseconds kFloorReuse{50};

std::string row_name(const char* family, std::string_view transport, const char* peer, std::size_t size,
                     std::optional<Wait> wait) {
  std::string n = std::string(family) + "/transport:" + std::string(transport) + "/peer:" + peer + "/size:" + std::to_string(size);
  if (wait) n += std::string("/wait:") + wait_name(*wait);
  return n;
}

void add_row(const std::string& name, std::function<void(benchmark::State&)> fn) {
  add_benchmark(name, std::move(fn), true)->Unit(benchmark::kNanosecond);
}

void add_refused(const std::string& name, std::string why) {
  add_row(name, [why](benchmark::State& st) {
    skip(st, why);
    for (auto _ : st) {
    }
  });
}

std::string explain(Status st, const mpi::Row& row) {
  if (!mpi::peer_lost().empty()) return "mpi: " + mpi::peer_lost() + "; the job ends once the results are written";
  return row.peer_error().empty() ? "mpi: " + st.describe() : "mpi: " + st.describe() + ": " + row.peer_error();
}

void run_pingpong(benchmark::State& state, const std::string& name, std::size_t size, mpi::Peer peer,
                  std::uint64_t delay_loops) {
  const Placement& where = suite().placement;
  const bool pinned_pair = peer == mpi::Peer::kLocal && parent_cpu_of(where) >= 0 && peer_cpu_of(where) >= 0;
  const C2cFloor floor_before =
      pinned_pair ? recent_c2c_floor(parent_cpu_of(where), peer_cpu_of(where), kFloorReuse) : C2cFloor{};
  mpi::Row row(name, mpi::Mode::kPingpong, size, kWarmupRoundTrips, peer_cpu_of(where));
  if (!row.error().empty()) return skip(state, "mpi: " + row.error());
  MessageSet ms(size);
  Histogram rtt;
  std::uint64_t seq = 0;
  // The native pingpong_loop's body with the MPI calls for send and recv: timed from before
  // the send to after the reply has been read in full, checked outside the interval.
  auto trips = [&](Histogram& into, auto&& more) -> Status {
    const TickClock& clock = TickClock::get();
    while (more()) {
      const Bytes msg = ms.stamp(MsgKind::kData, seq);
      const std::uint64_t start = TickClock::now();
      if (delay_loops != 0) busy_loop(delay_loops);
      Bytes reply;
      if (Status st = row.round_trip(msg, reply); !st) return st;
      consume(reply);
      const std::uint64_t end = TickClock::now();
      if (Status st = verify_message(reply, size, MsgKind::kData, seq); !st) return st;
      into.record(clock.to_ns_fast(end - start));
      ++seq;
    }
    return Status::Ok();
  };
  {
    Histogram discarded;
    int warmup = kWarmupRoundTrips;
    if (Status st = trips(discarded, [&] { return warmup-- > 0; }); !st) {
      row.stop(ms, seq);
      return skip(state, explain(st, row));
    }
  }
  const std::uint64_t cpu0 = thread_cpu_ns();
  Status st = trips(rtt, [&] { return state.KeepRunning(); });
  const std::uint64_t cpu1 = thread_cpu_ns();
  if (Status stop = row.stop(ms, seq); st) st = stop;
  if (!st) return skip(state, explain(st, row));

  const std::uint64_t timed = rtt.count();
  state.SetIterationTime(rtt.mean() * double(timed) * 1e-9);
  state.SetItemsProcessed(std::int64_t(timed));
  auto& c = state.counters;
  c["rtt_p50_ns"] = rtt.quantile(0.50);
  c["rtt_p90_ns"] = rtt.quantile(0.90);
  c["rtt_p99_ns"] = rtt.quantile(0.99);
  c["rtt_p999_ns"] = rtt.quantile(0.999);
  c["rtt_max_ns"] = double(rtt.max());
  c["rtt_mean_ns"] = rtt.mean();
  // Both ranks' CPU over the timed trips (rank 1 counts from its first timed message), two
  // messages per trip; MPI waits by polling, and that shows here as cost.
  if (timed > 0) c["cpu_ns_per_msg"] = double((cpu1 - cpu0) + row.peer_cpu_ns()) / double(2 * timed);
  const C2cFloor floor =
      pinned_pair ? lower_floor(floor_before, measure_c2c_floor(parent_cpu_of(where), peer_cpu_of(where))) : C2cFloor{};
  if (floor.p50_ns) {
    c["ratio_to_floor"] = ratio_to_floor(rtt, floor);
    c["floor_c2c_rtt_ns"] = *floor.p50_ns;
    c["floor_c2c_rtt_p99_ns"] = *floor.p99_ns;
  }
}

void run_stream(benchmark::State& state, const std::string& name, std::size_t size, mpi::Peer peer,
                std::uint64_t delay_loops) {
  const Placement& where = suite().placement;
  const double memcpy_ref = memcpy_gbps(size);
  const double copy_floor =
      peer == mpi::Peer::kLocal ? c2c_copy_gbps(size, peer_cpu_of(where), parent_cpu_of(where)) : 0;
  mpi::Row row(name, mpi::Mode::kStream, size, 0, peer_cpu_of(where));
  if (!row.error().empty()) return skip(state, "mpi: " + row.error());
  MessageSet ms(size);
  std::uint64_t seq = 0;
  const std::uint64_t cpu0 = thread_cpu_ns();
  const std::uint64_t t0 = TickClock::now();
  Status st = Status::Ok();
  while (st && state.KeepRunning()) {
    if (delay_loops != 0) busy_loop(delay_loops);
    st = row.stream_send(ms.stamp(MsgKind::kData, seq), seq);
    if (st) ++seq;
  }
  if (Status stop = row.stop(ms, seq); st) st = stop;
  const std::uint64_t t1 = TickClock::now();
  const std::uint64_t cpu1 = thread_cpu_ns();
  if (!st) return skip(state, explain(st, row));

  const double seconds = TickClock::get().to_ns(t1 - t0) * 1e-9;
  state.SetIterationTime(seconds);
  state.SetItemsProcessed(std::int64_t(seq));
  state.SetBytesProcessed(std::int64_t(seq * size));
  auto& c = state.counters;
  if (seq > 0) c["cpu_ns_per_msg"] = double((cpu1 - cpu0) + row.peer_cpu_ns()) / double(seq);
  const double bytes_per_second = double(seq * size) / seconds;
  if (seconds > 0 && memcpy_ref > 0) c["ratio_to_memcpy"] = bytes_per_second / (memcpy_ref * 1e9);
  if (seconds > 0 && copy_floor > 0) c["ratio_to_floor"] = bytes_per_second / (copy_floor * 1e9);
  // The window the protocol holds: at most kStreamWindow messages unacknowledged.
  c["window_msgs"] = double(kStreamWindow);
}

// tcp/peer:mpi_remote: the registry's pingpong and stream workloads over the connection rank
// 1 made back from its host (mpi::TcpRow), timed as the native rows are. Rank 1's CPU time
// spans its whole role, warm-up included, so rank 0's is counted over the same trips.
void run_connect_back(benchmark::State& state, std::size_t size, bool pingpong, std::uint64_t delay_loops) {
  mpi::TcpRow row(pingpong ? mpi::Mode::kPingpong : mpi::Mode::kStream, size, peer_cpu_of(suite().placement));
  if (!row.error().empty()) return skip(state, "tcp to rank 1: " + row.error());
  MessageSet ms(size);
  std::atomic<std::uint64_t> progress{0};
  std::uint64_t seq = 0;
  const std::uint64_t cpu0 = thread_cpu_ns();
  auto fail = [&](Status st) {
    const std::string peer = row.peer_error().empty() ? "" : ": " + row.peer_error();
    skip(state, "tcp to rank 1: " + st.describe() + peer);
  };
  if (pingpong) {
    Histogram rtt, discarded;
    int warmup = kWarmupRoundTrips;
    Status st = pingpong_loop(row.channel(), ms, discarded, progress, delay_loops, seq, [&] { return warmup-- > 0; });
    if (st) st = pingpong_loop(row.channel(), ms, rtt, progress, delay_loops, seq, [&] { return state.KeepRunning(); });
    if (Status stop = row.stop(ms, seq); st) st = stop;
    const std::uint64_t cpu1 = thread_cpu_ns();
    if (!st) return fail(st);
    report_round_trips(state, rtt);
    if (seq > 0) state.counters["cpu_ns_per_msg"] = double((cpu1 - cpu0) + row.peer_cpu_ns()) / double(2 * seq);
    return;
  }
  const double memcpy_ref = memcpy_gbps(size);
  const std::uint64_t t0 = TickClock::now();
  Status st = stream_loop(row.channel(), ms, progress, delay_loops, seq, [&] { return state.KeepRunning(); });
  // The clock stops at rank 1's acknowledgement that it has checked every message.
  if (Status stop = row.stop(ms, seq); st) st = stop;
  const std::uint64_t t1 = TickClock::now();
  const std::uint64_t cpu1 = thread_cpu_ns();
  if (!st) return fail(st);
  const double seconds = TickClock::get().to_ns(t1 - t0) * 1e-9;
  state.SetIterationTime(seconds);
  state.SetItemsProcessed(std::int64_t(seq));
  state.SetBytesProcessed(std::int64_t(seq * size));
  auto& c = state.counters;
  if (seq > 0) c["cpu_ns_per_msg"] = double((cpu1 - cpu0) + row.peer_cpu_ns()) / double(seq);
  if (seconds > 0 && memcpy_ref > 0) c["ratio_to_memcpy"] = double(seq * size) / seconds / (memcpy_ref * 1e9);
}

Words with_mpi_transports() {
  Words w = transport_names();
  for (const auto& t : mpi::kTransports) w.push_back(std::string(t.name));
  return w;
}

}  // namespace

Words peer_names_with_mpi() {
  Words w = peer_names();
  for (mpi::Peer p : mpi::kPeers) w.push_back(mpi::peer_name(p));
  return w;
}

std::vector<KeyDef> link_keys_with_mpi() {
  std::vector<KeyDef> keys = link_keys();
  for (KeyDef& k : keys) {
    if (std::string_view(k.name) == "transport") k.values = with_mpi_transports;
    if (std::string_view(k.name) == "peer") k.values = peer_names_with_mpi;
  }
  return keys;
}

void add_mpi_link_rows(const Profile& p, const char* family) {
  const bool pingpong = std::string_view(family) == "pingpong";
  std::string mpi_peers;
  for (mpi::Peer peer : mpi::kPeers) mpi_peers += std::string(mpi_peers.empty() ? "" : ", ") + mpi::peer_name(peer);
  for (const auto& t : mpi::kTransports) {
    for (PeerKind k : kAllPeers)
      for (std::size_t size : p.sizes)
        add_refused(row_name(family, t.name, peer_name(k), size, std::nullopt),
                    std::string(t.name) + " reaches MPI ranks only (" + mpi_peers + "); it cannot reach a " +
                        peer_name(k) + " peer");
    for (mpi::Peer peer : mpi::kPeers) {
      for (std::size_t size : p.sizes) {
        const std::string name = row_name(family, t.name, mpi::peer_name(peer), size, std::nullopt);
        add_row(name, [&t, peer, size, name, pingpong](benchmark::State& st) {
          if (const std::string why = mpi::refusal(t, peer); !why.empty()) {
            skip(st, why);
            for (auto _ : st) {
            }
            return;
          }
          const std::uint64_t delay = suite().calibration_delay_loops_for(name);
          pingpong ? run_pingpong(st, name, size, peer, delay) : run_stream(st, name, size, peer, delay);
        });
      }
    }
  }
  // The registry's transports connect the launcher's peers; an MPI rank is not one of them,
  // except that tcp reaches rank 1 on another host by a connection made back (mpi_link.h).
  for (const TransportDef* t : transports()) {
    std::string reached;
    for (PeerKind k : kAllPeers)
      if (t->reaches(k)) reached += std::string(reached.empty() ? "" : ", ") + peer_name(k);
    for (mpi::Peer peer : mpi::kPeers)
      for (std::size_t size : p.sizes) {
        if (t->name == mpi::kConnectBackTransport && t->waits.empty()) {
          const std::string name = row_name(family, t->name, mpi::peer_name(peer), size, std::nullopt);
          add_row(name, [peer, size, name, pingpong](benchmark::State& st) {
            if (const std::string why = mpi::connect_back_refusal(peer); !why.empty()) {
              skip(st, why);
              for (auto _ : st) {
              }
              return;
            }
            run_connect_back(st, size, pingpong, suite().calibration_delay_loops_for(name));
          });
          continue;
        }
        const std::string why = std::string(t->name) + " cannot reach a " + mpi::peer_name(peer) + " peer (it reaches " +
                                reached + "; an MPI rank is reached by the mpi transports)";
        if (t->waits.empty()) add_refused(row_name(family, t->name, mpi::peer_name(peer), size, std::nullopt), why);
        for (Wait w : t->waits) add_refused(row_name(family, t->name, mpi::peer_name(peer), size, w), why);
      }
  }
}

nlohmann::json mpi_transports_json() {
  nlohmann::json all = nlohmann::json::object();
  nlohmann::json peers = nlohmann::json::array();
  for (mpi::Peer p : mpi::kPeers) peers.push_back(mpi::peer_name(p));
  for (const auto& t : mpi::kTransports)
    all[std::string(t.name)] = {{"kind", "queue"},
                                {"max_msg_bytes", nullptr},
                                {"limit_note", ""},
                                {"crosses_processes", true},
                                {"peers", peers},
                                {"survives_dead_peer", true},
                                {"waits", nlohmann::json::array()},
                                {"fanin", false},
                                {"mpi_btl", std::string("--mca pml ob1 --mca btl ") + t.btl},
                                // Whether this path reaches a rank on another host (mpi_remote).
                                {"mpi_crosses_hosts", t.crosses_hosts}};
  return all;
}

}  // namespace ipcm
