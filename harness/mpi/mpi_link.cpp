#include "harness/mpi/mpi_link.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <set>
#include <vector>

#include "harness/core/buffer.h"
#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/env.h"
#include "harness/core/limits.h"

namespace ipcm::mpi {
namespace {

constexpr int kRank0 = 0, kRank1 = 1;
// One tag per kind of traffic, so a stray message of one kind can never match a receive of another.
enum Tag : int { kTagControl = 1, kTagData = 2, kTagCredit = 3, kTagAck = 4, kTagHello = 5 };
enum class Op : std::uint32_t { kRow = 1, kQuit = 2 };
// Rank 1 returns a credit every half window, so the sender is never more than a window ahead.
constexpr std::uint64_t kCreditEvery = kStreamWindow / 2;
// How long rank 1 sleeps between looks at the control channel: between rows it must leave its
// CPU idle (the floors rank 0 measures there need it), and a row starts at most this late.
constexpr long kIdlePollNs = 200'000;
constexpr std::size_t kWhyBytes = 240;
constexpr std::size_t kHostBytes = 256;

struct Control {
  Op op;
  Mode mode;
  std::uint64_t size;
  std::uint64_t warmup;
  std::int32_t peer_cpu;
  std::uint32_t pad;
};
struct Ack {
  std::int32_t ok;
  std::uint32_t pad;
  std::uint64_t received;
  std::uint64_t cpu_ns;
  char why[kWhyBytes];
};

World g_world;
bool g_finished = false;

const char* path_name(Path p) { return p == Path::kSm ? "sm" : "tcp"; }

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The path this launch fixed: --mca pml ob1 and a btl list of self plus exactly one of
// vader (sm, its 4.1 alias) or tcp.
void read_path(World& w) {
  const std::string pml = env_or_empty("OMPI_MCA_pml"), btl = env_or_empty("OMPI_MCA_btl");
  std::set<std::string> parts;
  for (std::size_t start = 0; start <= btl.size() && !btl.empty();) {
    const std::size_t comma = btl.find(',', start);
    parts.insert(btl.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const bool sm = parts.count("vader") || parts.count("sm"), tcp = parts.count("tcp");
  if (pml != "ob1") {
    w.path_note = "this launch does not force the ob1 PML (OMPI_MCA_pml='" + pml + "'), so the BTL choice may be bypassed";
  } else if (btl.empty()) {
    w.path_note = "this launch does not fix MPI's BTL (no --mca btl)";
  } else if (sm == tcp || parts.size() != (parts.count("self") ? 2u : 1u)) {
    w.path_note = "this launch's BTL list '" + btl + "' is not one path";
  } else {
    w.path = sm ? Path::kSm : Path::kTcp;
    w.path_note = std::string("this launch uses the ") + path_name(*w.path) + " path (--mca btl " + btl + ")";
  }
}

std::string host_name() {
  char h[kHostBytes] = {};
  gethostname(h, sizeof h - 1);
  return h;
}

Status mpi_status(int rc, const char* what) noexcept {
  return rc == MPI_SUCCESS ? Status::Ok() : Status::Closed(what);
}

// Rank 1 waits for the next control message without holding its CPU (see kIdlePollNs).
bool next_control(Control& c) {
  MPI_Request req;
  if (MPI_Irecv(&c, sizeof c, MPI_BYTE, kRank0, kTagControl, MPI_COMM_WORLD, &req) != MPI_SUCCESS) return false;
  for (;;) {
    int done = 0;
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    const timespec nap{0, kIdlePollNs};
    nanosleep(&nap, nullptr);
  }
}

void send_ack(bool ok, std::uint64_t received, std::uint64_t cpu_ns, const std::string& why) {
  Ack a{};
  a.ok = ok ? 1 : 0;
  a.received = received;
  a.cpu_ns = cpu_ns;
  std::snprintf(a.why, sizeof a.why, "%s", why.c_str());
  MPI_Send(&a, sizeof a, MPI_BYTE, kRank0, kTagAck, MPI_COMM_WORLD);
}

// Rank 1's pingpong: echo every data message after checking it, until the stop message.
void serve_pingpong(const Control& c) {
  AlignedBuffer buf(c.size);
  send_ack(true, 0, 0, "");  // ready
  std::uint64_t seq = 0, cpu0 = thread_cpu_ns();
  std::string why;
  for (;;) {
    const Bytes msg{buf.data(), c.size};
    if (MPI_Recv(buf.data(), int(c.size), MPI_BYTE, kRank0, kTagData, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      why = "MPI_Recv failed in rank 1";
      break;
    }
    MsgHeader h;
    std::memcpy(&h, buf.data(), sizeof h);
    if (kind_of(h.seq_kind) == MsgKind::kStop) {
      if (Status st = verify_message(msg, c.size, MsgKind::kStop, seq); !st && why.empty()) why = "rank 1: stop message: " + st.describe();
      break;
    }
    if (Status st = verify_message(msg, c.size, MsgKind::kData, seq); !st && why.empty())
      why = "rank 1: message " + std::to_string(seq) + ": " + st.describe();
    if (seq == c.warmup) cpu0 = thread_cpu_ns();
    // The echo: the same bytes, so rank 0 checks the sequence number and checksum it sent.
    MPI_Send(buf.data(), int(c.size), MPI_BYTE, kRank0, kTagData, MPI_COMM_WORLD);
    ++seq;
  }
  send_ack(why.empty(), seq, thread_cpu_ns() - cpu0, why);
}

// Rank 1's stream: a window of posted receives, each message checked in order, a credit
// every half window, until the stop message.
void serve_stream(const Control& c) {
  const std::size_t w = kStreamWindow;
  AlignedBuffer slots(c.size * w);
  std::vector<MPI_Request> req(w, MPI_REQUEST_NULL);
  for (std::size_t i = 0; i < w; ++i)
    MPI_Irecv(slots.data() + i * c.size, int(c.size), MPI_BYTE, kRank0, kTagData, MPI_COMM_WORLD, &req[i]);
  send_ack(true, 0, 0, "");  // ready: the window is posted
  const std::uint64_t cpu0 = thread_cpu_ns();
  std::uint64_t seq = 0;
  std::string why;
  for (;;) {
    const std::size_t slot = seq % w;
    if (MPI_Wait(&req[slot], MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      why = "MPI_Wait failed in rank 1";
      break;
    }
    const Bytes msg{slots.data() + slot * c.size, c.size};
    MsgHeader h;
    std::memcpy(&h, msg.data(), sizeof h);
    if (kind_of(h.seq_kind) == MsgKind::kStop) {
      if (Status st = verify_message(msg, c.size, MsgKind::kStop, seq); !st && why.empty()) why = "rank 1: stop message: " + st.describe();
      break;
    }
    if (Status st = verify_message(msg, c.size, MsgKind::kData, seq); !st && why.empty())
      why = "rank 1: message " + std::to_string(seq) + ": " + st.describe();
    ++seq;
    MPI_Irecv(slots.data() + slot * c.size, int(c.size), MPI_BYTE, kRank0, kTagData, MPI_COMM_WORLD, &req[slot]);
    if (seq % kCreditEvery == 0) MPI_Send(&seq, 1, MPI_UINT64_T, kRank0, kTagCredit, MPI_COMM_WORLD);
  }
  // The receives still posted will never match: the sender sends nothing after the stop.
  for (MPI_Request& r : req) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  send_ack(why.empty(), seq, thread_cpu_ns() - cpu0, why);
}

}  // namespace

const char* peer_name(Peer p) { return p == Peer::kLocal ? "mpi_local" : "mpi_remote"; }

LaunchEnv launch_env() {
  LaunchEnv e;
  const std::string size = env_or_empty("OMPI_COMM_WORLD_SIZE"), rank = env_or_empty("OMPI_COMM_WORLD_RANK");
  if (size.empty() || rank.empty()) return e;
  e.under_mpirun = true;
  e.world_size = std::atoi(size.c_str());
  e.rank = std::atoi(rank.c_str());
  return e;
}

const World& world() { return g_world; }

std::string init(int* argc, char*** argv) {
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return "--mpi: MPI_Init failed";
  // Failures come back as return codes, so a row can end with the reason instead of the job aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != 2) {
    MPI_Finalize();
    return "--mpi needs exactly two ranks (mpirun -np 2 build/ipcmeter --mpi); this launch has " + std::to_string(size);
  }
  g_world.active = true;
  read_path(g_world);
  char host[kHostBytes] = {};
  std::snprintf(host, sizeof host, "%s", host_name().c_str());
  if (g_world.rank == kRank1) {
    MPI_Send(host, sizeof host, MPI_BYTE, kRank0, kTagHello, MPI_COMM_WORLD);
  } else {
    MPI_Recv(host, sizeof host, MPI_BYTE, kRank1, kTagHello, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    g_world.peer_host = host;
    g_world.peer_remote = g_world.peer_host != host_name();
  }
  return "";
}

int serve_peer() {
  IPCM_CHECK(g_world.active && g_world.rank == kRank1);
  Control c{};
  while (next_control(c)) {
    if (c.op == Op::kQuit) break;
    IPCM_CHECK(c.op == Op::kRow && c.size >= kMinMessageBytes);
    // Pinned for the row as the launcher pins a peer; without a CPU it stays where mpirun put it.
    if (c.peer_cpu >= 0) pin_this_thread(c.peer_cpu);
    if (c.mode == Mode::kPingpong) serve_pingpong(c);
    else serve_stream(c);
  }
  MPI_Finalize();
  g_finished = true;
  return 0;
}

void finish() noexcept {
  if (!g_world.active || g_finished || g_world.rank != kRank0) return;
  g_finished = true;
  Control c{};
  c.op = Op::kQuit;
  MPI_Send(&c, sizeof c, MPI_BYTE, kRank1, kTagControl, MPI_COMM_WORLD);
  MPI_Finalize();
}

std::string refusal(const TransportInfo& t, Peer p) {
  const std::string me(t.name);
  if (!g_world.active) {
    if (p == Peer::kRemote)
      return me + " with an mpi_remote peer needs mpirun -np 2 build/ipcmeter --mpi across two hosts (scripts/run.sh --hosts HOSTFILE)";
    return me + " needs mpirun -np 2 build/ipcmeter --mpi (MPI starts its ranks; see scripts/mpi_rows.sh)";
  }
  if (!g_world.path) return me + ": " + g_world.path_note + "; run with --mca pml ob1 --mca btl " + t.btl;
  if (*g_world.path != t.path)
    return me + ": " + g_world.path_note + "; " + me + " needs a launch with --mca pml ob1 --mca btl " + t.btl;
  if (p == Peer::kRemote && !g_world.peer_remote)
    return me + ": rank 1 runs on this host (" + g_world.peer_host + "); mpi_remote needs it on a second host (scripts/run.sh --hosts HOSTFILE)";
  if (p == Peer::kLocal && g_world.peer_remote)
    return me + ": rank 1 runs on another host (" + g_world.peer_host + "); mpi_local needs both ranks on this host";
  return "";
}

struct Row::Impl {
  std::size_t size;
  AlignedBuffer reply;
  AlignedBuffer slots;  // the stream's window: MPI_Isend needs its buffer untouched until done
  std::vector<MPI_Request> req;
  std::uint64_t credited = 0, credits = 0;
};

Row::Row(Mode mode, std::size_t size, std::uint64_t warmup, int peer_cpu) : impl_(new Impl{size, AlignedBuffer(size), {}, {}}) {
  IPCM_CHECK(g_world.active && g_world.rank == kRank0);
  if (mode == Mode::kStream) {
    impl_->slots = AlignedBuffer(size * kStreamWindow);
    impl_->req.assign(kStreamWindow, MPI_REQUEST_NULL);
  }
  Control c{};
  c.op = Op::kRow;
  c.mode = mode;
  c.size = size;
  c.warmup = warmup;
  c.peer_cpu = g_world.peer_remote ? -1 : peer_cpu;
  Ack a{};
  if (MPI_Send(&c, sizeof c, MPI_BYTE, kRank1, kTagControl, MPI_COMM_WORLD) != MPI_SUCCESS ||
      MPI_Recv(&a, sizeof a, MPI_BYTE, kRank1, kTagAck, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
    error_ = "rank 1 did not answer the row's start";
  } else if (!a.ok) {
    error_ = a.why;
  }
}

Row::~Row() { delete impl_; }

Status Row::round_trip(Bytes msg, Bytes& reply) noexcept {
  const int n = int(impl_->size);
  if (MPI_Send(msg.data(), n, MPI_BYTE, kRank1, kTagData, MPI_COMM_WORLD) != MPI_SUCCESS) return Status::Closed("MPI_Send");
  if (MPI_Recv(impl_->reply.data(), n, MPI_BYTE, kRank1, kTagData, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return Status::Closed("MPI_Recv");
  reply = Bytes{impl_->reply.data(), impl_->size};
  return Status::Ok();
}

Status Row::stream_send(Bytes msg, std::uint64_t seq) noexcept {
  Impl& m = *impl_;
  const std::size_t slot = seq % kStreamWindow;
  if (Status st = mpi_status(MPI_Wait(&m.req[slot], MPI_STATUS_IGNORE), "MPI_Wait"); !st) return st;
  while (seq - m.credited >= kStreamWindow) {
    if (MPI_Recv(&m.credited, 1, MPI_UINT64_T, kRank1, kTagCredit, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      return Status::Closed("MPI_Recv (credit)");
    ++m.credits;
  }
  std::byte* dst = m.slots.data() + slot * m.size;
  std::memcpy(dst, msg.data(), m.size);
  return mpi_status(MPI_Isend(dst, int(m.size), MPI_BYTE, kRank1, kTagData, MPI_COMM_WORLD, &m.req[slot]), "MPI_Isend");
}

Status Row::stop(MessageSet& ms, std::uint64_t seq) {
  Impl& m = *impl_;
  if (!m.req.empty()) {
    if (Status st = mpi_status(MPI_Waitall(int(m.req.size()), m.req.data(), MPI_STATUSES_IGNORE), "MPI_Waitall"); !st) return st;
    // Every credit rank 1 sent is taken, so none is left to match the next row's receives.
    while (m.credits < seq / kCreditEvery) {
      if (MPI_Recv(&m.credited, 1, MPI_UINT64_T, kRank1, kTagCredit, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return Status::Closed("MPI_Recv (credit)");
      ++m.credits;
    }
  }
  const Bytes msg = ms.stamp(MsgKind::kStop, seq);
  if (MPI_Send(msg.data(), int(m.size), MPI_BYTE, kRank1, kTagData, MPI_COMM_WORLD) != MPI_SUCCESS) return Status::Closed("MPI_Send (stop)");
  Ack a{};
  if (MPI_Recv(&a, sizeof a, MPI_BYTE, kRank1, kTagAck, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return Status::Closed("MPI_Recv (acknowledgement)");
  peer_cpu_ns_ = a.cpu_ns;
  if (!a.ok) {
    peer_error_ = a.why;
    return Status::Corrupt("rank 1 found a message wrong");
  }
  if (a.received != seq) {
    peer_error_ = "rank 1 received " + std::to_string(a.received) + " messages, rank 0 sent " + std::to_string(seq);
    return Status::Corrupt("message count");
  }
  return Status::Ok();
}

}  // namespace ipcm::mpi
