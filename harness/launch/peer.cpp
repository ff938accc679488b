#include "harness/launch/peer.h"

#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness/core/check.h"
#include "harness/core/clock.h"
#include "harness/core/fault_hooks.h"
#include "harness/core/message.h"

namespace ipcm {
namespace {

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

std::vector<std::string> peer_role_args(const PeerArgs& a) {
  std::vector<std::string> v = {
      "transport=" + std::string(a.transport->name),
      std::string("role=") + kRoleNames.name(a.role),
      "size=" + std::to_string(a.cfg.msg_bytes),
      "depth=" + std::to_string(a.cfg.depth),
      std::string("wait=") + wait_name(a.cfg.wait),
      "cpu=" + std::to_string(a.cpu),
      "--",
  };
  v.insert(v.end(), a.spec.args.begin(), a.spec.args.end());
  return v;
}

namespace {

// A process peer: parse, pin, attach, serve. The launcher has armed the death signal,
// checked the parent and adopted its clock.
int link_peer_main(int argc, char** argv) {
  PeerArgs a;
  int i = 0;
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
      const auto r = kRoleNames.parse(v);
      ok = r.has_value();
      if (ok) a.role = *r;
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
    } else {
      ok = false;
    }
    if (!ok) peer_fail(kPeerUsage, "bad argument " + arg);
  }
  if (a.transport == nullptr || a.cfg.msg_bytes == 0) peer_fail(kPeerUsage, "missing transport or size");
  for (++i; i < argc; ++i) a.spec.args.emplace_back(argv[i]);
  if (!pin_to(a.cpu)) peer_fail(kPeerAttachFailed, "cannot pin to CPU " + std::to_string(a.cpu));
  Made<Channel> ch = a.transport->attach(a.spec, a.cfg, nullptr);
  if (!ch) peer_fail(kPeerAttachFailed, ch.error);
  std::string why;
  std::unique_ptr<Channel> faulty = with_injected_fault(*ch.value, a.cfg.msg_bytes);
  const int code = run_role(faulty ? *faulty : *ch.value, a.role, a.cfg.msg_bytes, why);
  if (code != kPeerOk) peer_fail(code, why);
  ch.value.reset();
  return kPeerOk;
}

IPCM_REGISTER_ROLE(kLinkPeerRole, link_peer_main);

}  // namespace

}  // namespace ipcm
