#include "harness/core/fault_hooks.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness/core/limits.h"
#include "harness/core/name_table.h"
#include "harness/launch/launcher.h"

namespace ipcm {
namespace {

struct PeerFault {
  enum Kind { kNone, kExit, kGarbage } kind = kNone;
  std::uint64_t after = 0;
};
// The words IPCMETER_FAULT takes before the colon; any other word injects nothing.
constexpr auto kFaultNames = name_table<PeerFault::Kind>({{PeerFault::kExit, "exit"}, {PeerFault::kGarbage, "garbage"}});
static_assert(kFaultNames.well_formed());

PeerFault read_peer_fault() {
  PeerFault f;
  const char* v = std::getenv("IPCMETER_FAULT");
  if (v == nullptr) return f;
  const std::string s = v;
  const auto colon = s.find(':');
  const std::string what = s.substr(0, colon);
  f.kind = kFaultNames.parse(what).value_or(PeerFault::kNone);
  f.after = colon == std::string::npos ? 0 : std::strtoull(s.c_str() + colon + 1, nullptr, 10);
  return f;
}

const PeerFault& peer_fault() {
  static const PeerFault f = read_peer_fault();
  return f;
}

class FaultyChannel final : public Channel {
 public:
  FaultyChannel(Channel& inner, std::size_t msg_bytes) : inner_(inner), garbage_(msg_bytes, std::byte{0xA5}) {}
  Status send(Bytes msg) noexcept override {
    if (peer_fault().kind == PeerFault::kGarbage && received_ > peer_fault().after)
      return inner_.send(Bytes(garbage_.data(), garbage_.size()));
    return inner_.send(msg);
  }
  Status recv(Bytes& out) noexcept override {
    if (peer_fault().kind == PeerFault::kExit && received_ > peer_fault().after) {
      std::fprintf(stderr, "ipcmeter peer: IPCMETER_FAULT=exit: exiting on purpose after %llu messages\n",
                   (unsigned long long)received_);
      _exit(kPeerChannelFailed);
    }
    ++received_;
    return inner_.recv(out);
  }
  // The injected faults act on recv(): the echo role the faults are injected into never waits
  // with a deadline.
  Status recv_until(Bytes& out, Deadline deadline) noexcept override { return inner_.recv_until(out, deadline); }

 private:
  Channel& inner_;
  std::vector<std::byte> garbage_;
  std::uint64_t received_ = 0;
};

}  // namespace

std::unique_ptr<Channel> with_injected_fault(Channel& inner, std::size_t msg_bytes) {
  if (peer_fault().kind == PeerFault::kNone) return nullptr;
  return std::make_unique<FaultyChannel>(inner, msg_bytes);
}

}  // namespace ipcm
