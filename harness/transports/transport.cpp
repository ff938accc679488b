#include "harness/transports/transport.h"

#include <fcntl.h>

#include <cstdio>
#include <cstring>

#include "harness/launch/peer.h"

namespace ipcm {

PeerSet PeerSet::in_process() {
  PeerSet s{};
  for (PeerKind p : kAllPeers)
    if (!ipcm::crosses_processes(p)) s.bits_ |= bit(p);
  return s;
}

bool TransportDef::crosses_processes() const noexcept {
  for (PeerKind p : kAllPeers)
    if (ipcm::crosses_processes(p) && reaches(p)) return true;
  return false;
}

std::string TransportDef::refusal(PeerKind peer, std::size_t msg_bytes) const {
  const std::string me(name);
  if (!reaches(peer)) {
    if (peers == PeerSet::in_process())
      return me + " connects threads of one process only; it cannot reach a " + peer_name(peer) + " peer";
    std::string which;
    for (PeerKind p : kAllPeers)
      if (reaches(p)) which += std::string(which.empty() ? "" : ", ") + peer_name(p);
    return me + " cannot reach a " + peer_name(peer) + " peer (it reaches " + (which.empty() ? "none" : which) + ")" +
           (peers_note.empty() ? "" : ": " + std::string(peers_note));
  }
  if (auto limit = max_msg_bytes(); limit && msg_bytes > *limit)
    return "message size " + std::to_string(msg_bytes) + " exceeds " + me + "'s limit of " + std::to_string(*limit) +
           " bytes on this system" + (limit_note.empty() ? "" : " (" + std::string(limit_note) + ")");
  return "";
}

const TransportDef* find_transport(std::string_view name) {
  for (const TransportDef* t : transports())
    if (t->name == name) return t;
  return nullptr;
}

int open_interruptible(const char* path, int flags, const ChannelConfig& cfg) {
  for (;;) {
    const int fd = ::open(path, flags);
    if (fd >= 0 || errno != EINTR || cfg.cancelled()) return fd;
  }
}

std::string Status::describe() const {
  std::string s = what;
  if (code == kSysError) s += std::string(": ") + std::strerror(err);
  if (code == kCorrupt && has_seen) {
    const auto v = static_cast<std::uint32_t>(err);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%#x", v);
    s += " (value seen: " + std::to_string(v) + " = " + hex + ")";
  }
  return s;
}

std::string sys_error(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace ipcm
