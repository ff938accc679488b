#include "harness/peer.h"

#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness/check.h"
#include "harness/clock.h"
#include "harness/fault_hooks.h"
#include "harness/message.h"
#include "harness/workers.h"
#include "harness/party.h"

extern char** environ;

namespace ipcm {
namespace {

constexpr const char* kPeerFlag = "--ipcmeter-peer";

void no_op(int) {}

bool pin_to(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

MsgKind header_kind(Bytes m) {
  MsgHeader h;
  std::memcpy(&h, m.data(), sizeof h);
  return kind_of(h.seq_kind);
}

bool parse_size(const std::string& v, std::size_t& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (errno != 0 || end == v.c_str() || *end != '\0') return false;
  out = std::size_t(x);
  return true;
}

[[noreturn]] void peer_fail(int code, const std::string& why) {
  std::fprintf(stderr, "ipcmeter peer: %s\n", why.c_str());
  std::fflush(stderr);
  _exit(code);
}

}  // namespace

const char* peer_name(PeerKind p) {
  switch (p) {
    case PeerKind::kThread: return "thread";
    case PeerKind::kFork: return "fork";
    case PeerKind::kSpawn: return "spawn";
  }
  return "?";
}

std::optional<PeerKind> parse_peer(std::string_view s) {
  for (PeerKind p : kAllPeers)
    if (s == peer_name(p)) return p;
  return std::nullopt;
}

const char* peer_exit_meaning(int code) {
  switch (code) {
    case kPeerOk: return "success";
    case kPeerUsage: return "bad peer arguments";
    case kPeerAttachFailed: return "could not attach to the link";
    case kPeerChannelFailed: return "a channel operation failed";
    case kPeerMessageBad: return "a received message failed its check";
    case kPeerOrphaned: return "its parent was gone";
  }
  return "unknown failure";
}

int run_role(Channel& ch, Role role, std::size_t msg_bytes, std::string& why) {
  MessageSet acks(msg_bytes, /*salt=*/1);
  auto channel_failed = [&](const Status& st) {
    why = st.describe();
    return st.code == Status::kCorrupt ? kPeerMessageBad : kPeerChannelFailed;
  };
  if (Status st = ch.send(acks.stamp(MsgKind::kAck, 0)); !st) return channel_failed(st);
  for (std::uint64_t seq = 0;;) {
    Bytes m;
    if (Status st = ch.recv(m); !st) return channel_failed(st);
    if (m.size() < sizeof(MsgHeader)) return channel_failed(Status::Corrupt("message shorter than its header"));
    switch (header_kind(m)) {
      case MsgKind::kData:
        // The echo goes back before the check: the parent checks the echoed bytes too, so the
        // check here is a second line of defence and stays off the round trip's path. The
        // received view stays valid until the next recv.
        if (role == Role::kEcho) {
          if (Status st = ch.send(m); !st) return channel_failed(st);
        }
        if (Status st = verify_message(m, msg_bytes, MsgKind::kData, seq); !st) return channel_failed(st);
        ++seq;
        break;
      case MsgKind::kStop: {
        if (Status st = verify_message(m, msg_bytes, MsgKind::kStop, seq); !st) return channel_failed(st);
        if (Status st = ch.send(acks.stamp(MsgKind::kAck, seq)); !st) return channel_failed(st);
        // Stay until released, so the parent can read this peer's CPU clock while it exists.
        if (Status st = ch.recv(m); !st) return channel_failed(st);
        if (Status st = verify_message(m, msg_bytes, MsgKind::kStop, seq + 1); !st) return channel_failed(st);
        return kPeerOk;
      }
      default:
        return channel_failed(Status::Corrupt("message of an unknown kind"));
    }
  }
}

std::vector<std::string> peer_argv(const PeerArgs& a, pid_t parent) {
  char tick[64];
  std::snprintf(tick, sizeof tick, "%.17g", TickClock::get().ns_per_tick());
  std::vector<std::string> v = {
      self_exe(),
      kPeerFlag,
      "transport=" + std::string(a.transport->name),
      std::string("role=") + (a.role == Role::kEcho ? "echo" : "sink"),
      "size=" + std::to_string(a.cfg.msg_bytes),
      "depth=" + std::to_string(a.cfg.depth),
      std::string("wait=") + wait_name(a.cfg.wait),
      "cpu=" + std::to_string(a.cpu),
      "parent=" + std::to_string(parent),
      std::string("ns_per_tick=") + tick,
      "--",
  };
  v.insert(v.end(), a.spec.args.begin(), a.spec.args.end());
  return v;
}

void peer_main_if_requested(int argc, char** argv) {
  // The spawn, compute and pool families' worker roles (hello, forkserver, compute, farm, pool).
  if (argc >= 3 && std::strcmp(argv[1], kWorkerFlag) == 0) worker_role_main(argc, argv);
  // A party of a many-party group (sync, state, fanin): see harness/party.h.
  if (argc >= 2 && std::strcmp(argv[1], kPartyFlag) == 0) party_main(argc, argv);
  if (argc < 2 || std::strcmp(argv[1], kPeerFlag) != 0) return;
  // Die with the parent; and if it already died before this line, leave at once.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  install_peer_signals();
  PeerArgs a;
  long parent = -1;
  double ns_per_tick = 0;
  int i = 2;
  for (; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    if (eq == std::string::npos) peer_fail(kPeerUsage, "malformed argument " + arg);
    const std::string k = arg.substr(0, eq), v = arg.substr(eq + 1);
    bool ok = true;
    if (k == "transport") {
      a.transport = find_transport(v);
      ok = a.transport != nullptr;
    } else if (k == "role") {
      ok = v == "echo" || v == "sink";
      a.role = v == "echo" ? Role::kEcho : Role::kSink;
    } else if (k == "size") {
      ok = parse_size(v, a.cfg.msg_bytes) && a.cfg.msg_bytes >= kMinMessageBytes && a.cfg.msg_bytes <= kMaxMessageBytes;
    } else if (k == "depth") {
      ok = parse_size(v, a.cfg.depth) && a.cfg.depth > 0;
    } else if (k == "wait") {
      const auto w = parse_wait(v);
      ok = w.has_value();
      if (ok) a.cfg.wait = *w;
    } else if (k == "cpu") {
      a.cpu = std::atoi(v.c_str());
    } else if (k == "parent") {
      parent = std::atol(v.c_str());
    } else if (k == "ns_per_tick") {
      ns_per_tick = std::atof(v.c_str());
    } else {
      ok = false;
    }
    if (!ok) peer_fail(kPeerUsage, "bad argument " + arg);
  }
  if (a.transport == nullptr || a.cfg.msg_bytes == 0 || parent <= 0)
    peer_fail(kPeerUsage, "missing transport, size or parent");
  if (getppid() != pid_t(parent)) peer_fail(kPeerOrphaned, "parent is gone");
  for (++i; i < argc; ++i) a.spec.args.emplace_back(argv[i]);
  TickClock::adopt(ns_per_tick);
  if (!pin_to(a.cpu)) peer_fail(kPeerAttachFailed, "cannot pin to CPU " + std::to_string(a.cpu));
  Made<Channel> ch = a.transport->attach(a.spec, a.cfg, nullptr);
  if (!ch) peer_fail(kPeerAttachFailed, ch.error);
  std::string why;
  std::unique_ptr<Channel> faulty = with_injected_fault(*ch.value, a.cfg.msg_bytes);
  const int code = run_role(faulty ? *faulty : *ch.value, a.role, a.cfg.msg_bytes, why);
  if (code != kPeerOk) peer_fail(code, why);
  ch.value.reset();
  _exit(kPeerOk);
}

const std::string& self_exe() {
  static const std::string path = [] {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    IPCM_CHECK(n > 0);
    return std::string(buf, std::size_t(n));
  }();
  return path;
}

pid_t spawn_self(std::vector<std::string> argv, const std::vector<int>& inherit, int stderr_fd, std::string& err) {
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  // dup2 onto itself clears FD_CLOEXEC (POSIX.1-2024, glibc >= 2.29); everything else of
  // ours is close-on-exec, so the child inherits exactly these.
  for (int fd : inherit) posix_spawn_file_actions_adddup2(&fa, fd, fd);
  if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stderr_fd, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def_sigs, none;
  sigemptyset(&def_sigs);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE}) sigaddset(&def_sigs, sig);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &def_sigs);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, self_exe().c_str(), &fa, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    err = sys_error("posix_spawn " + self_exe(), rc);
    return -1;
  }
  return pid;
}

void install_peer_signals() {
  struct sigaction sa {};
  sa.sa_handler = no_op;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the point is to make blocking calls return EINTR
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace ipcm
