#include "harness/transport.h"

#include <fcntl.h>

#include <cstring>

namespace ipcm {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kPipe: return "pipe";
    case Kind::kQueue: return "queue";
    case Kind::kShm: return "shm";
  }
  return "?";
}

const char* wait_name(Wait w) {
  switch (w) {
    case Wait::kSpin: return "spin";
    case Wait::kHybrid: return "hybrid";
    case Wait::kBlock: return "block";
  }
  return "?";
}

std::optional<Wait> parse_wait(std::string_view s) {
  for (Wait w : {Wait::kSpin, Wait::kHybrid, Wait::kBlock})
    if (s == wait_name(w)) return w;
  return std::nullopt;
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
  return s;
}

std::string sys_error(const std::string& what, int err) { return what + ": " + std::strerror(err); }

}  // namespace ipcm
