// pingpong and stream over MPI point-to-point between rank 0 (this process) and rank 1 (the
// peer mpirun started): MPI_Send/MPI_Recv round trips, an MPI_Isend/MPI_Irecv window. The
// counters are the native families' and mean the same: round trips timed one by one into the
// same histogram after the same warm-up, a stream timed from the first send to rank 1's
// acknowledgement of the stop, every message stamped and checked (harness/core/message.h).
#include <benchmark/benchmark.h>

#include "bench/mpi/mpi_rows.h"
#include "bench/pingpong/pingpong.h"
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
  return row.peer_error().empty() ? "mpi: " + st.describe() : "mpi: " + st.describe() + ": " + row.peer_error();
}

void run_pingpong(benchmark::State& state, std::size_t size, mpi::Peer peer, std::uint64_t delay_loops) {
  const Placement& where = suite().placement;
  const bool pinned_pair = peer == mpi::Peer::kLocal && parent_cpu_of(where) >= 0 && peer_cpu_of(where) >= 0;
  const C2cFloor floor_before =
      pinned_pair ? recent_c2c_floor(parent_cpu_of(where), peer_cpu_of(where), kFloorReuse) : C2cFloor{};
  mpi::Row row(mpi::Mode::kPingpong, size, kWarmupRoundTrips, peer_cpu_of(where));
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

void run_stream(benchmark::State& state, std::size_t size, mpi::Peer peer, std::uint64_t delay_loops) {
  const Placement& where = suite().placement;
  const double memcpy_ref = memcpy_gbps(size);
  const double copy_floor =
      peer == mpi::Peer::kLocal ? c2c_copy_gbps(size, peer_cpu_of(where), parent_cpu_of(where)) : 0;
  mpi::Row row(mpi::Mode::kStream, size, 0, peer_cpu_of(where));
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
          pingpong ? run_pingpong(st, size, peer, delay) : run_stream(st, size, peer, delay);
        });
      }
    }
  }
  // The registry's transports connect the launcher's peers; an MPI rank is not one of them.
  for (const TransportDef* t : transports()) {
    std::string reached;
    for (PeerKind k : kAllPeers)
      if (t->reaches(k)) reached += std::string(reached.empty() ? "" : ", ") + peer_name(k);
    for (mpi::Peer peer : mpi::kPeers)
      for (std::size_t size : p.sizes) {
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
                                {"mpi_btl", std::string("--mca pml ob1 --mca btl ") + t.btl}};
  return all;
}

}  // namespace ipcm
