// The peer of a link: the other end, as a thread, a forked child or a spawned copy of this
// binary (harness/launch/launcher.h starts each; harness/launch/peer_kind.h says which kinds exist). All
// run the same role code over the same Channel interface.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "harness/core/name_table.h"
#include "harness/launch/launcher.h"
#include "harness/launch/peer_kind.h"
#include "harness/transports/transport.h"

namespace ipcm {

// What the peer does with the messages it receives.
enum class Role { kEcho, kSink };
// The words of the link role's role= argument.
inline constexpr auto kRoleNames = name_table<Role>({{Role::kEcho, "echo"}, {Role::kSink, "sink"}});
static_assert(kRoleNames.well_formed());

// The launcher role a process peer runs (see peer.cpp).
inline constexpr const char* kLinkPeerRole = "link";

struct PeerArgs {
  const TransportDef* transport = nullptr;
  Role role = Role::kEcho;
  ChannelConfig cfg;
  int cpu = -1;  // pin to this CPU, or -1
  PeerSpec spec;
};

// The peer's whole life once attached: announce readiness, then serve messages until told to
// stop. Returns a PeerExit code; on failure `why` says what went wrong.
int run_role(Channel& ch, Role role, std::size_t msg_bytes, std::string& why);

// The link role's own arguments (the launcher adds its own in front), and their parser.
std::vector<std::string> peer_role_args(const PeerArgs& a);

}  // namespace ipcm
