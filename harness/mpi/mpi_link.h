// MPI ranks as peers. `mpirun -np 2 build/ipcmeter --mpi …` starts two copies of ipcmeter:
// rank 0 runs the suite and writes the results, rank 1 serves as the peer of the mpi rows. The
// launcher (harness/launch/) cannot start such a peer — mpirun does, on this host or another —
// so the MPI transports and peers are a table of their own here, not rows of the launcher's
// peer-kind table: a launcher kind has a mechanism the launcher runs, an MPI rank has none.
//
// One mpirun fixes the path MPI takes (the byte-transfer layer, BTL, chosen by `--mca btl`),
// so one launch runs one transport's rows: mpi_sm with `--mca pml ob1 --mca btl self,vader`,
// mpi_tcp with `--mca pml ob1 --mca btl self,tcp` (ob1 forced, else another PML may bypass the
// BTLs). The rows of the other path are listed with the reason (scripts/mpi_rows.sh makes both
// launches). Everything MPI is behind this header: the rest of ipcmeter never includes mpi.h.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "harness/core/floors.h"
#include "harness/core/histogram.h"
#include "harness/core/message.h"
#include "harness/core/status.h"
#include "harness/transports/transport.h"

namespace ipcm::mpi {

// The path MPI takes between the two ranks, named by the transport that measures it.
enum class Path { kSm, kTcp };
struct TransportInfo {
  std::string_view name;
  Path path;
  const char* btl;     // the --mca btl value that selects this path (with --mca pml ob1)
  bool crosses_hosts;  // the path reaches a rank on another host (shared memory does not)
};
inline constexpr std::array<TransportInfo, 2> kTransports{{{"mpi_sm", Path::kSm, "self,vader", false},
                                                           {"mpi_tcp", Path::kTcp, "self,tcp", true}}};

// Where rank 1 runs: on this host (both ranks local) or on a second host of the hostfile.
enum class Peer { kLocal, kRemote };
inline constexpr std::array<Peer, 2> kPeers{Peer::kLocal, Peer::kRemote};
const char* peer_name(Peer p);

enum class Mode : std::uint32_t { kPingpong = 1, kStream = 2 };

// The launch as mpirun's environment describes it, read before MPI_Init (so that a refused
// launch never initialises MPI): OMPI_COMM_WORLD_SIZE/RANK and the MCA parameters mpirun
// passes on as OMPI_MCA_* variables.
struct LaunchEnv {
  bool under_mpirun = false;
  int world_size = 0;
  int rank = -1;
};
LaunchEnv launch_env();

// What the rows need to know about the MPI world; inactive unless --mpi initialised it.
struct World {
  bool active = false;
  int rank = -1;
  std::optional<Path> path;  // the path this launch fixed, if it fixed exactly one
  std::string path_note;     // how this launch chose its path, for the other rows' reason
  bool peer_remote = false;  // rank 1 reports another host name than rank 0
  std::string peer_host;
};
const World& world();

// MPI_Init (funneled: only the main thread calls MPI) and the rank 0 / rank 1 handshake
// (host names). "" on success, else the one line to print.
std::string init(int* argc, char*** argv);
// Rank 1: serve rows until rank 0 says quit, then finalise. Returns the exit code.
int serve_peer();
// Rank 0: tell rank 1 to quit and finalise; safe to call more than once (and from atexit).
// When rank 1 was given up on (peer_lost()), ends the job with MPI_Abort instead: MPI_Finalize
// would wait for rank 1. Called after the results are written.
void finish() noexcept;

// Rank 0: why rank 1 was given up on, "" while it answers. Every exchange rank 0 makes with
// rank 1 has a limit: rank 1 silent for peer_timeout() (harness/core/limits.h), or an error MPI
// reports toward it, ends the row with this reason, and every later exchange at once.
const std::string& peer_lost();

// Why transport `t` with peer `p` cannot run in this process, or "".
std::string refusal(const TransportInfo& t, Peer p);

// Rank 0's side of one row, `name` the benchmark's (a later row's reason names the row where
// rank 1 was given up on). The constructor tells rank 1 what the row is (mode, size, the warm-up
// round trips after which it starts counting its CPU time, the CPU to pin itself to or -1)
// and waits until it is ready. Then round trips or a stream, then stop(), which returns rank
// 1's verdict on every message it checked and its CPU time over the counted part.
class Row {
 public:
  Row(std::string_view name, Mode mode, std::size_t size, std::uint64_t warmup, int peer_cpu);
  ~Row();
  Row(const Row&) = delete;
  Row& operator=(const Row&) = delete;

  // "" when rank 1 is ready, else why not.
  const std::string& error() const { return error_; }

  // One round trip: send `msg` (MPI_Isend), receive the echo into the row's reply buffer
  // (MPI_Irecv), each polled to completion within the limit. The caller times it and verifies
  // the reply.
  Status round_trip(Bytes msg, Bytes& reply) noexcept;
  // One message of the stream: copied into its window slot and sent with MPI_Isend; at most
  // kStreamWindow messages are unacknowledged (rank 1 returns a credit every half window).
  Status stream_send(Bytes msg, std::uint64_t seq) noexcept;
  // Ends the row: sends the stop message, waits for rank 1's acknowledgement.
  Status stop(MessageSet& ms, std::uint64_t seq);
  std::uint64_t peer_cpu_ns() const { return peer_cpu_ns_; }
  // Rank 1's reason when it found a message wrong (set by stop()).
  const std::string& peer_error() const { return peer_error_; }

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // null when the row was refused before rank 1 was asked
  std::string error_;
  std::string peer_error_;
  std::uint64_t peer_cpu_ns_ = 0;
};

// ---- Across hosts: what rank 0 learns from rank 1 over a connection rank 1 makes back ----
// When rank 1 runs on another host, rank 0 listens on a TCP port of every address it has (or
// only those `--mca btl_tcp_if_include` names, as MPI itself is told) and sends the port, its
// addresses and a random token over MPI; rank 1 connects to the first address it reaches and
// presents the token, so no stranger on the network is taken for the peer.

// The one registry transport whose rows cross hosts: pingpong/transport:tcp/peer:mpi_remote/…
// The registry's tcp link listens on loopback for a peer the launcher starts; across hosts
// the connection is made back as above, and then the registry's own workloads (pingpong_loop,
// stream_loop) and peer role (run_role: echo or sink) run over it as over any tcp link.
inline constexpr std::string_view kConnectBackTransport = "tcp";
// Why the connect-back transport with peer `p` cannot run in this process, or "".
std::string connect_back_refusal(Peer p);

// Rank 0, rank 1 on another host: rank 1's environment_fingerprint() (harness/core/env.h),
// for ipcmeter.peer_env; null if rank 1 did not answer.
nlohmann::json peer_env();

// Rank 0, rank 1 on another host: the network floor between the two hosts (NetFloor in
// harness/core/floors.h); nullopt with `why` when the connection could not be made.
std::optional<NetFloor> measure_net_floor(std::string& why);

// Rank 0's side of one connect-back row: rank 1 connects back, pins itself to `peer_cpu` (when
// that CPU exists on its host) and serves the launcher's peer role over the connection. The
// caller runs the workload over channel() as over any link.
class TcpRow {
 public:
  TcpRow(Mode mode, std::size_t size, int peer_cpu);
  ~TcpRow();
  TcpRow(const TcpRow&) = delete;
  TcpRow& operator=(const TcpRow&) = delete;

  // "" when rank 1 is connected and has announced itself ready, else why not.
  const std::string& error() const { return error_; }
  Channel& channel() { return *channel_; }
  // The launcher's end of a row: the stop message, rank 1's acknowledgement that it checked
  // every message up to `seq` (a stream's clock stops here), then its release. Rank 1 then
  // reports over MPI its CPU time over the whole row and any fault it found.
  Status stop(MessageSet& ms, std::uint64_t seq);
  std::uint64_t peer_cpu_ns() const { return peer_cpu_ns_; }
  const std::string& peer_error() const { return peer_error_; }

 private:
  std::unique_ptr<Channel> channel_;
  std::string error_;
  std::string peer_error_;
  std::uint64_t peer_cpu_ns_ = 0;
  bool acked_ = false;  // rank 1's MPI report was received
};

}  // namespace ipcm::mpi
