#include "harness/mpi/mpi_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <mpi.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

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
#include "harness/launch/peer.h"
#include "harness/transports/fd_channel.h"

namespace ipcm::mpi {
namespace {

constexpr int kRank0 = 0, kRank1 = 1;
// One tag per kind of traffic, so a stray message of one kind can never match a receive of another.
enum Tag : int { kTagControl = 1, kTagData = 2, kTagCredit = 3, kTagAck = 4, kTagHello = 5, kTagEnv = 6 };
enum class Op : std::uint32_t { kRow = 1, kQuit = 2, kEnv = 3, kNetFloor = 4, kTcpRow = 5 };
// Rank 1 returns a credit every half window, so the sender is never more than a window ahead.
constexpr std::uint64_t kCreditEvery = kStreamWindow / 2;
// How long rank 1 sleeps between looks at the control channel: between rows it must leave its
// CPU idle (the floors rank 0 measures there need it), and a row starts at most this late.
constexpr long kIdlePollNs = 200'000;
constexpr std::size_t kWhyBytes = 240;
constexpr std::size_t kHostBytes = 256;

// Rank 0's addresses sent for a connection back (harness/mpi/mpi_link.h): a host with more
// interfaces than this names them with --mca btl_tcp_if_include.
constexpr std::size_t kMaxAddresses = 8;
struct Control {
  Op op;
  Mode mode;
  std::uint64_t size;
  std::uint64_t warmup;
  std::int32_t peer_cpu;
  std::uint32_t pad;
  // For kNetFloor and kTcpRow: where and how rank 1 connects back.
  std::uint64_t token;
  std::uint32_t port;
  std::uint32_t n_addresses;
  std::uint32_t addresses[kMaxAddresses];  // IPv4, network byte order
};
struct Ack {
  std::int32_t ok;
  std::uint32_t code;  // a connect-back row: rank 1's run_role exit code (PeerExit)
  std::uint64_t received;
  std::uint64_t cpu_ns;
  char why[kWhyBytes];
};

World g_world;
bool g_finished = false;

// ---- Rank 0 never waits on rank 1 without a limit ----
// Every send and receive rank 0 makes toward rank 1 is posted non-blocking and polled with
// MPI_Test until it completes or rank 1 has been silent for peer_timeout(), the limit the
// launcher's peers get (harness/core/limits.h). MPI_Wait polls MPI's progress engine the same
// way; the clock is read only every kPollsPerClockRead polls, so a request that completes
// within them costs what MPI_Send/MPI_Recv cost, and no poll allocates, logs or locks.
constexpr std::uint64_t kPollsPerClockRead = 1024;
// mpirun's exit status when rank 0 ends the job after giving up on rank 1: main's "failed".
constexpr int kPeerLostExit = 1;

// Set once, when rank 0 gives up on rank 1: why, and in which row. From then on rank 0 makes
// no MPI call but MPI_Abort (finish()): every later exchange ends at once with this reason, and
// the requests left pending are never progressed again, so MPI never touches their buffers.
bool g_peer_lost = false;
std::string g_lost_why;
std::string g_lost_row;
std::string g_row;  // the row rank 0 is running, named in the reason later rows carry

Status lose_peer(const char* call, int rc) noexcept {
  g_peer_lost = true;
  if (rc == MPI_SUCCESS) {
    g_lost_why = "the MPI peer (rank 1) stopped answering for " + std::to_string(peer_timeout().count()) +
                 " s (rank 0 waited in " + call + ")";
  } else {
    char text[MPI_MAX_ERROR_STRING] = {};
    int len = 0;
    MPI_Error_string(rc, text, &len);
    g_lost_why = std::string("MPI failed toward the MPI peer (rank 1) in ") + call + ": " + text;
  }
  g_lost_row = g_row;
  return rc == MPI_SUCCESS ? Status::Cancelled("rank 1 stopped answering") : Status::Closed(call);
}

Status lost_status() noexcept { return Status::Cancelled("rank 1 was given up on"); }

Status await(MPI_Request& req, const char* call) noexcept {
  if (g_peer_lost) return lost_status();
  Clock::time_point silent_since{};
  for (std::uint64_t polls = 1;; ++polls) {
    int done = 0;
    if (const int rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE); rc != MPI_SUCCESS) return lose_peer(call, rc);
    if (done) return Status::Ok();
    if (polls % kPollsPerClockRead != 0) continue;
    const Clock::time_point now = Clock::now();
    if (polls == kPollsPerClockRead) silent_since = now;
    else if (now - silent_since > peer_timeout()) return lose_peer(call, MPI_SUCCESS);
  }
}

Status send_to_peer(const void* p, int n, MPI_Datatype type, int tag, const char* call) noexcept {
  if (g_peer_lost) return lost_status();
  MPI_Request req;
  if (const int rc = MPI_Isend(p, n, type, kRank1, tag, MPI_COMM_WORLD, &req); rc != MPI_SUCCESS) return lose_peer(call, rc);
  return await(req, call);
}

Status recv_from_peer(void* p, int n, MPI_Datatype type, int tag, const char* call) noexcept {
  if (g_peer_lost) return lost_status();
  MPI_Request req;
  if (const int rc = MPI_Irecv(p, n, type, kRank1, tag, MPI_COMM_WORLD, &req); rc != MPI_SUCCESS) return lose_peer(call, rc);
  return await(req, call);
}

// Rank 0 after giving up on rank 1: MPI_Finalize would wait for it, so the job is ended instead
// (mpirun then kills rank 1, stopped or not). Only once the results are written (finish()).
[[noreturn]] void abort_job() noexcept {
  std::fprintf(stderr, "ipcmeter: %s; rank 0 ends the MPI job (MPI_Abort) instead of waiting for it\n", g_lost_why.c_str());
  std::fflush(nullptr);
  MPI_Abort(MPI_COMM_WORLD, kPeerLostExit);
  std::_Exit(kPeerLostExit);
}

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

// ---- Connecting back (harness/mpi/mpi_link.h) ----

// How long rank 1 tries one of rank 0's addresses, and how long rank 0 waits for the
// connection before it gives up (longer than rank 1 can spend on all its addresses).
constexpr int kConnectTryMs = 2000;
constexpr auto kConnectWait = std::chrono::milliseconds(kConnectTryMs * (kMaxAddresses + 2));
constexpr int kAcceptPollMs = 50;
// An accepted connection must present the token within this (tcp.cpp's reason: a silent
// stranger must not hold rank 0).
constexpr int kTokenWaitMs = 2000;
// The network floor: 64-byte trips (the profiles' smallest message), each way to wait tried
// with a discarded warm-up; bandwidth batches of 4 MiB (long enough that a batch is mostly
// transfer on a 1 Gb/s link and on a veth pair alike), 11 of them, median, as the c2c copy.
constexpr std::size_t kNetProbeBytes = 64;
constexpr int kNetWarmupTrips = 100;
constexpr int kNetTimedTrips = 1000;
constexpr std::size_t kNetBatchBytes = 4u << 20;
constexpr std::size_t kNetChunkBytes = 256u << 10;
constexpr int kNetBatches = 11;
// A probe read that waits longer than this has lost its peer.
constexpr auto kNetIoWait = std::chrono::seconds(10);

struct NetProtocol {
  const char* name;
  bool spin;  // non-blocking reads in a loop instead of a blocking read
};
constexpr std::array<NetProtocol, 2> kNetProtocols{{{"blocking_read", false}, {"spin_read", true}}};

std::string ip_text(std::uint32_t net_order) {
  char b[INET_ADDRSTRLEN] = {};
  in_addr a{net_order};
  inet_ntop(AF_INET, &a, b, sizeof b);
  return b;
}

// Does interface `name` with address `addr` match one entry of MPI's if_include list (an
// interface name or a CIDR block, comma-separated, as OpenMPI reads it)?
bool included(const std::string& list, const char* name, std::uint32_t addr) {
  for (std::size_t start = 0; start <= list.size();) {
    std::size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    const std::string item = list.substr(start, comma - start);
    start = comma + 1;
    const std::size_t slash = item.find('/');
    if (slash == std::string::npos) {
      if (item == name) return true;
      continue;
    }
    in_addr net{};
    const int bits = std::atoi(item.c_str() + slash + 1);
    if (inet_pton(AF_INET, item.substr(0, slash).c_str(), &net) != 1 || bits < 0 || bits > 32) continue;
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
    if ((ntohl(addr) & mask) == (ntohl(net.s_addr) & mask)) return true;
  }
  return false;
}

// Rank 0's IPv4 addresses outside loopback, limited to those MPI's TCP traffic is limited to.
std::vector<std::uint32_t> own_addresses(std::string& note) {
  std::string include = env_or_empty("OMPI_MCA_btl_tcp_if_include");
  if (include.empty()) include = env_or_empty("OMPI_MCA_oob_tcp_if_include");
  std::vector<std::uint32_t> out;
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) {
    note = sys_error("getifaddrs");
    return out;
  }
  for (const ifaddrs* i = all; i != nullptr && out.size() < kMaxAddresses; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    const std::uint32_t a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
    if (!include.empty() && !included(include, i->ifa_name, a)) continue;
    out.push_back(a);
  }
  freeifaddrs(all);
  if (out.empty())
    note = "rank 0 has no IPv4 address outside loopback" +
           (include.empty() ? std::string() : " within btl_tcp_if_include=" + include);
  return out;
}

// Rank 0's listening end of one connection back.
struct Listener {
  int fd = -1;
  Control control{};
  Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() { close_fd(fd); }
};

// "" when listening; the control message then carries the port, addresses and token.
std::string open_listener(Listener& l, Op op) {
  std::string note;
  const std::vector<std::uint32_t> addresses = own_addresses(note);
  if (addresses.empty()) return note;
  Control& c = l.control;
  c.op = op;
  c.n_addresses = std::uint32_t(addresses.size());
  std::copy(addresses.begin(), addresses.end(), c.addresses);
  if (getrandom(&c.token, sizeof c.token, 0) != sizeof c.token) return sys_error("getrandom");
  l.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd < 0) return sys_error("socket");
  // Every address: the listener is open only while one connection is awaited, and the token
  // decides which connection is rank 1's.
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof addr;
  if (bind(l.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(l.fd, 4) != 0 ||
      getsockname(l.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return sys_error("bind/listen for rank 1's connection");
  c.port = ntohs(addr.sin_port);
  return "";
}

bool set_nodelay(int fd) {
  const int one = 1;
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

bool set_recv_timeout(int fd, std::chrono::milliseconds t, int which = SO_RCVTIMEO) {
  const timeval tv{time_t(t.count() / 1000), suseconds_t((t.count() % 1000) * 1000)};
  return setsockopt(fd, SOL_SOCKET, which, &tv, sizeof tv) == 0;
}

bool write_all(int fd, const void* p, std::size_t n) noexcept {
  auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= std::size_t(w);
  }
  return true;
}

// Reads exactly n bytes, blocking (within the socket's receive timeout) or spinning on
// non-blocking reads until `give_up`.
bool read_all(int fd, void* p, std::size_t n, bool spin, Clock::time_point give_up) noexcept {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::recv(fd, b, n, spin ? MSG_DONTWAIT : 0);
    if (r > 0) {
      b += r;
      n -= std::size_t(r);
    } else if (r < 0 && (errno == EINTR || (spin && (errno == EAGAIN || errno == EWOULDBLOCK)))) {
      if (spin && Clock::now() > give_up) return false;
    } else {
      return false;
    }
  }
  return true;
}

Ack receive_ack() {
  Ack a{};
  if (!recv_from_peer(&a, sizeof a, MPI_BYTE, kTagAck, "MPI_Irecv (rank 1's report)")) {
    a.ok = 0;
    std::snprintf(a.why, sizeof a.why, "rank 1 did not report over MPI: %s", g_lost_why.c_str());
  }
  return a;
}

// Rank 0: sends the control message, then takes the connection that presents the token.
// -1 with `why` when rank 1 reports over MPI that it could not connect (its report is then
// consumed) or when it never comes.
// Why rank 1 could not connect back the first time: the next requests of the run end with it
// at once instead of each waiting for rank 1 to try every address again.
std::string g_unreachable;

int accept_peer(Listener& l, std::string& why, std::string& local, std::string& peer) {
  if (!g_unreachable.empty()) {
    why = g_unreachable + " (an earlier connection of this run failed so; not tried again)";
    return -1;
  }
  if (!send_to_peer(&l.control, sizeof l.control, MPI_BYTE, kTagControl, "MPI_Isend (the connect-back request)")) {
    why = g_lost_why;
    return -1;
  }
  const auto give_up = Clock::now() + kConnectWait;
  for (;;) {
    pollfd p{l.fd, POLLIN, 0};
    if (poll(&p, 1, kAcceptPollMs) > 0) {
      sockaddr_in from{}, to{};
      socklen_t flen = sizeof from, tlen = sizeof to;
      const int fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&from), &flen, SOCK_CLOEXEC);
      std::uint64_t token = 0;
      if (fd >= 0 && set_recv_timeout(fd, std::chrono::milliseconds(kTokenWaitMs)) &&
          read_all(fd, &token, sizeof token, false, give_up) && token == l.control.token &&
          set_recv_timeout(fd, std::chrono::milliseconds(0)) && set_nodelay(fd) &&
          getsockname(fd, reinterpret_cast<sockaddr*>(&to), &tlen) == 0) {
        local = ip_text(to.sin_addr.s_addr);
        peer = ip_text(from.sin_addr.s_addr);
        close_fd(l.fd);  // no other connection is awaited
        return fd;
      }
      if (fd >= 0) close(fd);  // a stranger, or rank 1 gone while connecting
    }
    int reported = 0;
    MPI_Iprobe(kRank1, kTagAck, MPI_COMM_WORLD, &reported, MPI_STATUS_IGNORE);
    if (reported || Clock::now() > give_up) {
      // Closing the listener refuses a connection still queued, so rank 1 ends and reports.
      close_fd(l.fd);
      const Ack a = receive_ack();
      why = a.why[0] ? a.why : "rank 1 did not connect back";
      g_unreachable = why;
      return -1;
    }
  }
}

// Rank 1: connects to the first of rank 0's addresses that answers and presents the token.
int connect_back(const Control& c, std::string& why) {
  std::string tried;
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(c.n_addresses, kMaxAddresses); ++i) {
    const std::string where = ip_text(c.addresses[i]) + ":" + std::to_string(c.port);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      why = sys_error("rank 1: socket");
      return -1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = c.addresses[i];
    addr.sin_port = htons(std::uint16_t(c.port));
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      socklen_t len = sizeof err;
      if (poll(&p, 1, kConnectTryMs) <= 0) err = ETIMEDOUT;
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
    const int flags = fcntl(fd, F_GETFL);
    if (err == 0 && flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 && set_nodelay(fd) &&
        write_all(fd, &c.token, sizeof c.token))
      return fd;
    if (err == 0) err = errno;
    close(fd);
    tried += (tried.empty() ? "" : ", ") + where + ": " + std::strerror(err);
  }
  why = "rank 1 could not connect back to rank 0 (" + (tried.empty() ? std::string("no address sent") : tried) + ")";
  return -1;
}

// Rank 1's side of the network floor: echoes the trips each way to wait, then reads the
// bandwidth batches, acknowledging each with one byte.
std::string serve_net_floor(int fd) {
  std::byte probe[kNetProbeBytes];
  const auto give_up = Clock::now() + kNetIoWait * 4;
  if (!set_recv_timeout(fd, std::chrono::duration_cast<std::chrono::milliseconds>(kNetIoWait)))
    return sys_error("rank 1: SO_RCVTIMEO");
  for (const NetProtocol& p : kNetProtocols)
    for (int i = 0; i < kNetWarmupTrips + kNetTimedTrips; ++i)
      if (!read_all(fd, probe, sizeof probe, p.spin, give_up) || !write_all(fd, probe, sizeof probe))
        return std::string("rank 1: the network floor's round trips broke off (") + p.name + ")";
  AlignedBuffer chunk(kNetChunkBytes);
  for (int b = 0; b < kNetBatches; ++b) {
    for (std::size_t left = kNetBatchBytes; left > 0;) {
      const std::size_t n = std::min(left, kNetChunkBytes);
      if (!read_all(fd, chunk.data(), n, false, give_up)) return "rank 1: the network floor's bandwidth batch broke off";
      left -= n;
    }
    const char done = 1;
    if (!write_all(fd, &done, 1)) return "rank 1: the network floor's acknowledgement failed";
  }
  return "";
}

// Rank 1's side of a connect-back row: the launcher's peer role over the connection.
void serve_tcp_row(const Control& c, int fd) {
  ChannelConfig cfg;
  cfg.msg_bytes = c.size;
  cfg.depth = c.mode == Mode::kStream ? kStreamWindow : 1;
  std::string why;
  int code = 0;
  const std::uint64_t cpu0 = thread_cpu_ns();
  {
    FdChannel ch(fd, fd, cfg, true);
    code = run_role(ch, c.mode == Mode::kPingpong ? Role::kEcho : Role::kSink, c.size, why);
  }
  Ack a{};
  a.ok = code == kPeerOk ? 1 : 0;
  a.code = std::uint32_t(code);
  a.cpu_ns = thread_cpu_ns() - cpu0;
  std::snprintf(a.why, sizeof a.why, "%s", why.c_str());
  MPI_Send(&a, sizeof a, MPI_BYTE, kRank0, kTagAck, MPI_COMM_WORLD);
}

// Rank 1: one connect-back request (kNetFloor, kTcpRow), always answered with one Ack.
void serve_connect_back(const Control& c) {
  std::string why;
  const int fd = connect_back(c, why);
  if (fd < 0) return send_ack(false, 0, 0, why);
  if (c.op == Op::kTcpRow) return serve_tcp_row(c, fd);
  why = serve_net_floor(fd);
  close(fd);
  send_ack(why.empty(), 0, 0, why);
}

void serve_env() {
  const std::string text = environment_fingerprint().dump();
  const std::uint64_t n = text.size();
  MPI_Send(&n, 1, MPI_UINT64_T, kRank0, kTagEnv, MPI_COMM_WORLD);
  MPI_Send(text.data(), int(n), MPI_CHAR, kRank0, kTagEnv, MPI_COMM_WORLD);
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
    if (!recv_from_peer(host, sizeof host, MPI_BYTE, kTagHello, "MPI_Irecv (rank 1's host name)")) abort_job();
    g_world.peer_host = host;
    g_world.peer_remote = g_world.peer_host != host_name();
  }
  return "";
}

int serve_peer() {
  IPCM_CHECK(g_world.active && g_world.rank == kRank1);
  Control c{};
  while (next_control(c)) {
    if (c.op == Op::kQuit) {
      send_ack(true, 0, 0, "");  // rank 0 finalises only once rank 1 is known to be finalising too
      break;
    }
    if (c.op == Op::kEnv) {
      serve_env();
      continue;
    }
    if (c.op == Op::kNetFloor) {
      serve_connect_back(c);
      continue;
    }
    IPCM_CHECK((c.op == Op::kRow || c.op == Op::kTcpRow) && c.size >= kMinMessageBytes);
    // Pinned for the row as the launcher pins a peer; without a CPU it stays where mpirun put it.
    if (c.peer_cpu >= 0) pin_this_thread(c.peer_cpu);
    if (c.op == Op::kTcpRow) serve_connect_back(c);
    else if (c.mode == Mode::kPingpong) serve_pingpong(c);
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
  Ack a{};
  if (send_to_peer(&c, sizeof c, MPI_BYTE, kTagControl, "MPI_Isend (quit)"))
    recv_from_peer(&a, sizeof a, MPI_BYTE, kTagAck, "MPI_Irecv (rank 1's answer to quit)");
  if (g_peer_lost) abort_job();
  MPI_Finalize();
}

const std::string& peer_lost() { return g_lost_why; }

std::string refusal(const TransportInfo& t, Peer p) {
  const std::string me(t.name);
  if (!t.crosses_hosts && p == Peer::kRemote)
    return me + " cannot reach a mpi_remote peer: MPI's shared-memory path reaches ranks on this host only (a rank on "
                "another host is reached over MPI's TCP path)";
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

Row::Row(std::string_view name, Mode mode, std::size_t size, std::uint64_t warmup, int peer_cpu) {
  IPCM_CHECK(g_world.active && g_world.rank == kRank0);
  if (g_peer_lost) {
    error_ = "not run: " + g_lost_why + " in an earlier row, " + g_lost_row + "; rank 1 is not asked again";
    return;
  }
  g_row = name;
  impl_ = new Impl{size, AlignedBuffer(size), {}, {}};
  if (mode == Mode::kStream) {
    impl_->slots = AlignedBuffer(size * kStreamWindow);
    impl_->req.assign(kStreamWindow, MPI_REQUEST_NULL);
  }
  Control c{};
  c.op = Op::kRow;
  c.mode = mode;
  c.size = size;
  c.warmup = warmup;
  // Also across hosts: rank 1 pins to the same-numbered CPU on its host where there is one
  // (pin_this_thread refuses a CPU it lacks), so two "hosts" on one machine keep the ranks apart.
  c.peer_cpu = peer_cpu;
  Ack a{};
  if (!send_to_peer(&c, sizeof c, MPI_BYTE, kTagControl, "MPI_Isend (the row's start)") ||
      !recv_from_peer(&a, sizeof a, MPI_BYTE, kTagAck, "MPI_Irecv (rank 1 ready)")) {
    error_ = "rank 1 did not answer the row's start: " + g_lost_why;
  } else if (!a.ok) {
    error_ = a.why;
  }
}

Row::~Row() { delete impl_; }

Status Row::round_trip(Bytes msg, Bytes& reply) noexcept {
  const int n = int(impl_->size);
  if (Status st = send_to_peer(msg.data(), n, MPI_BYTE, kTagData, "MPI_Isend (a message)"); !st) return st;
  if (Status st = recv_from_peer(impl_->reply.data(), n, MPI_BYTE, kTagData, "MPI_Irecv (the echo)"); !st) return st;
  reply = Bytes{impl_->reply.data(), impl_->size};
  return Status::Ok();
}

Status Row::stream_send(Bytes msg, std::uint64_t seq) noexcept {
  Impl& m = *impl_;
  const std::size_t slot = seq % kStreamWindow;
  if (Status st = await(m.req[slot], "MPI_Isend (a window slot)"); !st) return st;
  while (seq - m.credited >= kStreamWindow) {
    if (Status st = recv_from_peer(&m.credited, 1, MPI_UINT64_T, kTagCredit, "MPI_Irecv (a credit)"); !st) return st;
    ++m.credits;
  }
  std::byte* dst = m.slots.data() + slot * m.size;
  std::memcpy(dst, msg.data(), m.size);
  if (const int rc = MPI_Isend(dst, int(m.size), MPI_BYTE, kRank1, kTagData, MPI_COMM_WORLD, &m.req[slot]); rc != MPI_SUCCESS)
    return lose_peer("MPI_Isend (a message)", rc);
  return Status::Ok();
}

Status Row::stop(MessageSet& ms, std::uint64_t seq) {
  Impl& m = *impl_;
  for (MPI_Request& r : m.req)
    if (Status st = await(r, "MPI_Isend (the window's last messages)"); !st) return st;
  // Every credit rank 1 sent is taken, so none is left to match the next row's receives.
  while (!m.req.empty() && m.credits < seq / kCreditEvery) {
    if (Status st = recv_from_peer(&m.credited, 1, MPI_UINT64_T, kTagCredit, "MPI_Irecv (a credit)"); !st) return st;
    ++m.credits;
  }
  const Bytes msg = ms.stamp(MsgKind::kStop, seq);
  if (Status st = send_to_peer(msg.data(), int(m.size), MPI_BYTE, kTagData, "MPI_Isend (the stop message)"); !st) return st;
  Ack a{};
  if (Status st = recv_from_peer(&a, sizeof a, MPI_BYTE, kTagAck, "MPI_Irecv (rank 1's acknowledgement)"); !st) return st;
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

std::string connect_back_refusal(Peer p) {
  const std::string me(kConnectBackTransport);
  if (p == Peer::kLocal)
    return me + " cannot reach a mpi_local peer (on this host its rows run with the launcher's peers; an MPI rank on "
                "this host is reached by the mpi transports)";
  if (!g_world.active)
    return me + " with an mpi_remote peer needs mpirun -np 2 build/ipcmeter --mpi across two hosts (scripts/run.sh --hosts HOSTFILE)";
  if (!g_world.peer_remote)
    return me + ": rank 1 runs on this host (" + g_world.peer_host +
           "); mpi_remote needs it on a second host (scripts/run.sh --hosts HOSTFILE)";
  return "";
}

nlohmann::json peer_env() {
  IPCM_CHECK(g_world.active && g_world.rank == kRank0);
  Control c{};
  c.op = Op::kEnv;
  std::uint64_t n = 0;
  if (!send_to_peer(&c, sizeof c, MPI_BYTE, kTagControl, "MPI_Isend (the env request)") ||
      !recv_from_peer(&n, 1, MPI_UINT64_T, kTagEnv, "MPI_Irecv (rank 1's env size)"))
    return nullptr;
  std::string text(n, '\0');
  if (!recv_from_peer(text.data(), int(n), MPI_CHAR, kTagEnv, "MPI_Irecv (rank 1's env)")) return nullptr;
  return nlohmann::json::parse(text, nullptr, false);
}

std::optional<NetFloor> measure_net_floor(std::string& why) {
  IPCM_CHECK(g_world.active && g_world.rank == kRank0);
  Listener l;
  if (why = open_listener(l, Op::kNetFloor); !why.empty()) return std::nullopt;
  NetFloor f;
  f.peer_host = g_world.peer_host;
  const int fd = accept_peer(l, why, f.local_address, f.peer_address);
  if (fd < 0) return std::nullopt;
  const auto give_up = Clock::now() + kNetIoWait * 4;
  const TickClock& clock = TickClock::get();
  bool ok = set_recv_timeout(fd, std::chrono::duration_cast<std::chrono::milliseconds>(kNetIoWait));
  std::byte probe[kNetProbeBytes] = {}, reply[kNetProbeBytes];
  f.trips = kNetTimedTrips;
  for (const NetProtocol& p : kNetProtocols) {
    Histogram h;
    for (int i = 0; ok && i < kNetWarmupTrips + kNetTimedTrips; ++i) {
      const std::uint64_t start = TickClock::now();
      ok = write_all(fd, probe, sizeof probe) && read_all(fd, reply, sizeof reply, p.spin, give_up);
      const std::uint64_t end = TickClock::now();
      if (i >= kNetWarmupTrips) h.record(clock.to_ns_fast(end - start));
    }
    if (!ok) break;
    f.rtt_p50_ns_by_protocol[p.name] = h.quantile(0.50);
    if (f.rtt_protocol.empty() || h.quantile(0.50) < f.rtt_p50_ns) {
      f.rtt_protocol = p.name;
      f.rtt_p50_ns = h.quantile(0.50);
      f.rtt_p99_ns = h.quantile(0.99);
      f.rtt_mean_ns = h.mean();
    }
  }
  std::array<double, kNetBatches> gbps{};
  if (ok) {
    AlignedBuffer chunk(kNetChunkBytes);
    for (int b = 0; ok && b < kNetBatches; ++b) {
      const std::uint64_t start = TickClock::now();
      for (std::size_t left = kNetBatchBytes; ok && left > 0;) {
        const std::size_t n = std::min(left, kNetChunkBytes);
        ok = write_all(fd, chunk.data(), n);
        left -= n;
      }
      char done = 0;
      ok = ok && read_all(fd, &done, 1, false, give_up);
      gbps[std::size_t(b)] = double(kNetBatchBytes) / clock.to_ns(TickClock::now() - start);
    }
  }
  close(fd);
  const Ack a = receive_ack();
  if (!ok || !a.ok) {
    why = a.ok ? std::string("the network floor's probes broke off") : std::string(a.why);
    return std::nullopt;
  }
  std::nth_element(gbps.begin(), gbps.begin() + kNetBatches / 2, gbps.end());
  f.gbps = gbps[kNetBatches / 2];
  f.batch_bytes = kNetBatchBytes;
  f.batches = kNetBatches;
  return f;
}

TcpRow::TcpRow(Mode mode, std::size_t size, int peer_cpu) {
  IPCM_CHECK(g_world.active && g_world.rank == kRank0);
  Listener l;
  if (error_ = open_listener(l, Op::kTcpRow); !error_.empty()) {
    acked_ = true;  // nothing was asked of rank 1
    return;
  }
  l.control.mode = mode;
  l.control.size = size;
  l.control.peer_cpu = peer_cpu;
  std::string local, peer;
  const int fd = accept_peer(l, error_, local, peer);
  if (fd < 0) {
    acked_ = true;  // accept_peer took rank 1's report
    return;
  }
  // A silent rank 1 ends a read or write on the connection after the MPI exchanges' limit,
  // with EAGAIN, instead of holding rank 0 for ever; the socket does it, the loop pays nothing.
  const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(peer_timeout());
  if (!set_recv_timeout(fd, limit) || !set_recv_timeout(fd, limit, SO_SNDTIMEO)) {
    error_ = sys_error("SO_RCVTIMEO/SO_SNDTIMEO on rank 1's connection");
    close(fd);  // rank 1's role ends at the close; the destructor takes its report
    return;
  }
  ChannelConfig cfg;
  cfg.msg_bytes = size;
  cfg.depth = mode == Mode::kStream ? kStreamWindow : 1;
  channel_ = std::make_unique<FdChannel>(fd, fd, cfg, true);
  // run_role announces itself with acknowledgement 0, as a launcher peer does.
  Bytes ready;
  Status st = channel_->recv(ready);
  if (st) st = verify_message(ready, size, MsgKind::kAck, 0);
  if (!st) error_ = "rank 1's ready message: " + st.describe();
}

TcpRow::~TcpRow() {
  if (acked_) return;
  // Closing the connection ends rank 1's role wherever it waits; its report follows.
  channel_.reset();
  receive_ack();
}

Status TcpRow::stop(MessageSet& ms, std::uint64_t seq) {
  Status st = channel_->send(ms.stamp(MsgKind::kStop, seq));
  Bytes ack;
  if (st) st = channel_->recv(ack);
  if (st) st = verify_message(ack, ms.size(), MsgKind::kAck, seq);
  // The release: run_role returns, rank 1 closes its end and reports over MPI.
  if (st) st = channel_->send(ms.stamp(MsgKind::kStop, seq + 1));
  if (!st) channel_.reset();
  const Ack a = receive_ack();
  acked_ = true;
  peer_cpu_ns_ = a.cpu_ns;
  if (!a.ok) {
    peer_error_ = a.why;
    if (st) st = a.code == kPeerMessageBad ? Status::Corrupt("rank 1 found a message wrong") : Status::Closed("rank 1's role failed");
  }
  return st;
}

}  // namespace ipcm::mpi
