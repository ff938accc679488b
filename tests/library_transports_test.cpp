// The messaging-library transports (zmq_ipc, zmq_tcp, zmq_inproc, nng_ipc) beyond what the
// conformance test asks of every transport: their socket files are swept after a dead run and
// gone after a row, a stranger cannot become zmq_tcp's peer, a killed peer of any kind ends
// the row with the reason, nng refuses a fork peer with its own reason, and recv_until times
// out.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <zmq.hpp>

#include <array>
#include <cstring>
#include <thread>

#include "bench/pingpong/pingpong.h"
#include "harness/core/check.h"
#include "harness/core/names.h"
#include "harness/launch/session.h"
#include "tests/support.h"

namespace ipcm {
namespace {

constexpr const char* kLibraryTransports[] = {"zmq_ipc", "zmq_tcp", "zmq_inproc", "nng_ipc"};
constexpr const char* kSocketFileTransports[] = {"zmq_ipc", "nng_ipc"};

const TransportDef& transport(const char* name) {
  const TransportDef* t = find_transport(name);
  IPCM_CHECK(t != nullptr);
  return *t;
}

// The socket file a link's peer is told to reach: "<name>:ipc://<path>".
std::string socket_path(const PeerSpec& spec) {
  const std::string& a = spec.args.at(0);
  const auto at = a.find("ipc://");
  return at == std::string::npos ? std::string() : a.substr(at + 6);
}

std::array<std::byte, 64> message(std::uint8_t fill) {
  std::array<std::byte, 64> m;
  m.fill(std::byte{fill});
  return m;
}

TEST(LibraryTransports, AreRegisteredAsQueues) {
  for (const char* name : kLibraryTransports) {
    const TransportDef* t = find_transport(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->kind, Kind::kQueue) << name;
    EXPECT_FALSE(t->waits.empty()) << name << " offers spin and block";
  }
  EXPECT_FALSE(transport("zmq_inproc").crosses_processes());
}

// A dead run's private directory holding a socket file (what zmq_ipc and nng_ipc leave after a
// SIGKILL) is removed by the start-up sweep, socket and all.
TEST(LibraryTransports, StaleIpcEndpointIsSwept) {
  const std::string dir = temp_root() + "/ipcmeter-" + std::to_string(dead_pid()) + "-0123456789abcdef-fifos";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string sock = dir + "/ipcmeter-1-0123456789abcdef-zmq";
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  close(fd);  // the file stays, as after a SIGKILL
  ASSERT_TRUE(exists(sock));
  sweep_stale_objects();
  EXPECT_FALSE(exists(sock));
  EXPECT_FALSE(exists(dir));
}

// The socket file exists, inside the private directory, while the link lives, and is gone once
// it is destroyed, after a message went through.
TEST(LibraryTransports, SocketFileIsPrivateAndRemovedAfterUse) {
  for (const char* name : kSocketFileTransports) {
    const TransportDef& t = transport(name);
    ChannelConfig cfg;
    cfg.msg_bytes = 64;
    std::string path;
    {
      Made<Link> link = t.create(cfg);
      ASSERT_TRUE(link) << name << ": " << link.error;
      const PeerSpec spec = link.value->peer_spec();
      path = socket_path(spec);
      ASSERT_EQ(path.rfind(private_dir() + "/ipcmeter-", 0), 0u) << name << ": " << path;
      struct stat st;
      ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
      EXPECT_TRUE(S_ISSOCK(st.st_mode)) << path;
      Made<Channel> peer_end;
      std::thread peer([&] { peer_end = t.attach(spec, cfg, link.value.get()); });
      Made<Channel> parent_end = link.value->open_parent();
      peer.join();
      ASSERT_TRUE(peer_end) << peer_end.error;
      ASSERT_TRUE(parent_end) << parent_end.error;
      const auto m = message(7);
      ASSERT_TRUE(peer_end.value->send(Bytes(m.data(), m.size())));
      Bytes got;
      ASSERT_TRUE(parent_end.value->recv(got));
      EXPECT_EQ(std::memcmp(got.data(), m.data(), m.size()), 0);
    }
    EXPECT_FALSE(exists(path)) << name << " left " << path;
  }
}

// A stranger on loopback cannot become zmq_tcp's peer: neither a ZeroMQ client without the
// password (NULL mechanism, or PLAIN with a wrong one) nor a silent raw connection. The real
// peer still gets in, and only its messages arrive.
TEST(LibraryTransports, ZmqTcpDropsStrangers) {
  const TransportDef& t = transport("zmq_tcp");
  ChannelConfig cfg;
  cfg.msg_bytes = 64;
  Made<Link> link = t.create(cfg);
  ASSERT_TRUE(link) << link.error;
  const PeerSpec spec = link.value->peer_spec();
  ASSERT_EQ(spec.args.size(), 2u);
  // Nothing secret in argv: the endpoint and a descriptor number only.
  const std::string endpoint = spec.args[0].substr(spec.args[0].find("tcp://"));
  EXPECT_EQ(endpoint.rfind("tcp://127.0.0.1:", 0), 0u) << endpoint;
  EXPECT_EQ(spec.args[1].rfind("tokenfd:", 0), 0u) << spec.args[1];

  zmq::context_t sctx;
  zmq::socket_t null_stranger(sctx, zmq::socket_type::pair), liar(sctx, zmq::socket_type::pair);
  for (zmq::socket_t* s : {&null_stranger, &liar}) s->set(zmq::sockopt::linger, 0);
  liar.set(zmq::sockopt::plain_username, "ipcmeter");
  liar.set(zmq::sockopt::plain_password, std::string(32, '0'));
  null_stranger.connect(endpoint);
  liar.connect(endpoint);
  // A stranger's message, queued on its side, must never reach the parent.
  const auto bad = message(0xee);
  null_stranger.send(zmq::buffer(bad.data(), bad.size()), zmq::send_flags::dontwait);
  liar.send(zmq::buffer(bad.data(), bad.size()), zmq::send_flags::dontwait);
  // And a raw TCP connection that never speaks.
  const int port = std::atoi(endpoint.substr(endpoint.rfind(':') + 1).c_str());
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(std::uint16_t(port));
  ASSERT_EQ(connect(silent, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // Let the strangers' handshakes reach the parent's handler before the peer's.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  Made<Channel> peer_end;
  std::thread peer([&] { peer_end = t.attach(spec, cfg, link.value.get()); });
  Made<Channel> parent_end = link.value->open_parent();
  peer.join();
  ASSERT_TRUE(peer_end) << peer_end.error;
  ASSERT_TRUE(parent_end) << parent_end.error;
  const auto good = message(0x11);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(peer_end.value->send(Bytes(good.data(), good.size())));
  for (int i = 0; i < 3; ++i) {
    Bytes got;
    ASSERT_TRUE(parent_end.value->recv(got));
    EXPECT_EQ(std::memcmp(got.data(), good.data(), good.size()), 0) << "a stranger's message arrived";
  }
  // A stranger connecting after the peer is in is refused too: nothing more arrives.
  zmq::socket_t late(sctx, zmq::socket_type::pair);
  late.set(zmq::sockopt::linger, 0);
  late.set(zmq::sockopt::plain_username, "ipcmeter");
  late.set(zmq::sockopt::plain_password, std::string(32, '1'));
  late.connect(endpoint);
  late.send(zmq::buffer(bad.data(), bad.size()), zmq::send_flags::dontwait);
  Bytes none;
  EXPECT_EQ(parent_end.value->recv_until(none, Clock::now() + std::chrono::milliseconds(300)).code, Status::kTimedOut);
  // The peer is still the peer: both ways still work.
  ASSERT_TRUE(parent_end.value->send(Bytes(good.data(), good.size())));
  Bytes back;
  ASSERT_TRUE(peer_end.value->recv(back));
  close(silent);
}

// A killed peer process of every kind each transport reaches ends the row promptly with the
// reason, and nothing is left behind (a PAIR socket does not report the peer's death: the
// session's watchdog does).
TEST(LibraryTransports, KilledPeerEndsTheRow) {
  const std::set<std::string> before = my_objects();
  for (const char* name : kLibraryTransports) {
    const TransportDef& t = transport(name);
    for (PeerKind peer : kAllPeers) {
      if (!crosses_processes(peer) || !t.reaches(peer) || !peer_refusal(peer, PeerUse::kLinkEnd).empty()) continue;
      for (Wait w : t.waits) {
        SessionOptions o;
        o.transport = &t;
        o.peer = peer;
        o.role = Role::kEcho;
        o.cfg.msg_bytes = 64;
        o.cfg.wait = w;
        Made<Session> s = Session::start(o);
        ASSERT_TRUE(s) << name << ": " << s.error;
        MessageSet ms(64);
        Histogram h;
        std::uint64_t seq = 0, n = 10;
        ASSERT_TRUE(pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [&] { return n-- > 0; }));
        kill(s.value->peer_pid(), SIGKILL);
        const auto t0 = Clock::now();
        const Status st = pingpong_loop(s.value->channel(), ms, h, s.value->progress(), 0, seq, [] { return true; });
        EXPECT_FALSE(st) << name;
        EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3)) << name << ": the death took too long to notice";
        const std::string why = s.value->explain(st);
        EXPECT_NE(why.find("Killed"), std::string::npos) << name << "/" << peer_name(peer) << ": " << why;
      }
    }
  }
  EXPECT_EQ(my_objects(), before);
  EXPECT_TRUE(no_children_left());
}

// nng cannot run in a forked child: the refusal says why, rather than a child that aborts.
TEST(LibraryTransports, NngRefusesForkWithItsReason) {
  const TransportDef& t = transport("nng_ipc");
  const std::string why = t.refusal(PeerKind::kFork, 64);
  EXPECT_NE(why.find("not fork-safe"), std::string::npos) << why;
  EXPECT_EQ(t.refusal(PeerKind::kSpawn, 64), "");
  EXPECT_EQ(t.refusal(PeerKind::kThread, 64), "");
}

// recv_until gives kTimedOut on a quiet link, not before the deadline, and a message when one
// is there; for every wait each library transport offers.
TEST(LibraryTransports, RecvUntilTimesOut) {
  for (const char* name : kLibraryTransports) {
    const TransportDef& t = transport(name);
    for (Wait w : t.waits) {
      ChannelConfig cfg;
      cfg.msg_bytes = 64;
      cfg.wait = w;
      Made<Link> link = t.create(cfg);
      ASSERT_TRUE(link) << name << ": " << link.error;
      const PeerSpec spec = link.value->peer_spec();
      Made<Channel> peer_end;
      std::thread peer([&] { peer_end = t.attach(spec, cfg, link.value.get()); });
      Made<Channel> parent_end = link.value->open_parent();
      peer.join();
      ASSERT_TRUE(peer_end && parent_end) << name << ": " << peer_end.error << parent_end.error;
      Bytes got;
      const auto t0 = Clock::now();
      const auto deadline = t0 + std::chrono::milliseconds(30);
      EXPECT_EQ(parent_end.value->recv_until(got, deadline).code, Status::kTimedOut) << name;
      EXPECT_GE(Clock::now(), deadline) << name;
      const auto m = message(3);
      ASSERT_TRUE(peer_end.value->send(Bytes(m.data(), m.size())));
      const Status st = parent_end.value->recv_until(got, Clock::now() + std::chrono::seconds(5));
      ASSERT_TRUE(st) << name << ": " << st.describe();
      EXPECT_EQ(got.size(), m.size());
      peer_end.value.reset();
      parent_end.value.reset();
    }
  }
}

}  // namespace
}  // namespace ipcm
