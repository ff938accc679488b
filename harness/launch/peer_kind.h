// The peer kinds, as data: what each is called, how the launcher starts it, whether it lives
// in a process of its own, and which uses it refuses with what reason. Everything else asks
// this table instead of comparing kinds, so a new kind (say a thread pinned to a CPU, or a
// Python interpreter) is a row here plus, if it needs a new way of starting, a mechanism in
// harness/launcher.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "harness/core/name_table.h"

namespace ipcm {

enum class PeerKind { kThread, kFork, kSpawn };
inline constexpr auto kPeerNames =
    name_table<PeerKind>({{PeerKind::kThread, "thread"}, {PeerKind::kFork, "fork"}, {PeerKind::kSpawn, "spawn"}});
static_assert(kPeerNames.well_formed());
inline constexpr const auto& kAllPeers = kPeerNames.values();
inline const char* peer_name(PeerKind p) { return kPeerNames.name(p); }
inline std::optional<PeerKind> parse_peer(std::string_view s) { return kPeerNames.parse(s); }

// How the launcher starts a party: the one switch over these is in harness/launcher.cpp.
enum class Mechanism { kThread, kFork, kSpawn };

// What a party is started to be. The families map onto these: pingpong and stream run a link
// end, compute a team worker or a farm worker, sync/state/fanin group parties, state's proxy
// rows a server.
enum class PeerUse { kLinkEnd, kTeamWorker, kFarmWorker, kGroupParty, kServer };
inline constexpr std::size_t kPeerUseCount = 5;

// A kind's name is in kPeerNames, not here, so that it is written once.
struct PeerKindDef {
  PeerKind kind;
  Mechanism mechanism;
  // A process of its own: what it shares must be process-shared, and there is a pid to watch.
  bool crosses_processes;
  // Why this kind is not offered for a use (indexed by PeerUse), or nullptr when it is.
  std::array<const char*, kPeerUseCount> refused;
};

const PeerKindDef& peer_def(PeerKind k);
inline bool crosses_processes(PeerKind k) { return peer_def(k).crosses_processes; }

// "" when kind `k` can serve `use` here and now, else the sentence why not. Besides the
// table's refusals, a forking kind is refused for the uses that fork from a caller which may
// have other threads alive (a forked child could inherit a lock one of them holds).
std::string peer_refusal(PeerKind k, PeerUse use);

}  // namespace ipcm
