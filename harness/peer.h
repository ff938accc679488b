// Peers: the other side of a link, as a thread, a forked child, or a spawned copy of this
// binary (posix_spawn of /proc/self/exe in the peer role, with an explicit argv). All three
// run the same role code over the same Channel interface.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "harness/transport.h"

namespace ipcm {

enum class PeerKind { kThread, kFork, kSpawn };
const char* peer_name(PeerKind p);
std::optional<PeerKind> parse_peer(std::string_view s);
inline constexpr PeerKind kAllPeers[] = {PeerKind::kThread, PeerKind::kFork, PeerKind::kSpawn};

// What the peer does with the messages it receives.
enum class Role { kEcho, kSink };

// A peer's exit codes; the parent turns them into sentences.
enum PeerExit : int {
  kPeerOk = 0,
  kPeerUsage = 2,
  kPeerAttachFailed = 3,
  kPeerChannelFailed = 4,
  kPeerMessageBad = 5,
  kPeerOrphaned = 6,
};
const char* peer_exit_meaning(int code);

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

// The argv that starts this binary as a peer, and its parser.
std::vector<std::string> peer_argv(const PeerArgs& a, pid_t parent);
// If argv asks for the peer role, runs it and never returns; otherwise returns. Call first
// thing in main() of every binary that may be spawned as a peer (ipcmeter, the tests).
void peer_main_if_requested(int argc, char** argv);

// The path this binary was started from, for spawning copies of it.
const std::string& self_exe();

// posix_spawn of this binary with an explicit argv (argv[0] included; never a shell string).
// The child keeps exactly the descriptors in `inherit` (plus stdio, with stderr replaced by
// `stderr_fd` when it is >= 0), starts with the signals the parent handles back at their
// defaults and nothing blocked. Returns the pid, or -1 with `err` set.
pid_t spawn_self(std::vector<std::string> argv, const std::vector<int>& inherit, int stderr_fd, std::string& err);

// Installs the no-op SIGUSR1 handler (without SA_RESTART) that lets the watchdog interrupt
// blocking calls, and ignores SIGPIPE so a vanished peer reads as EPIPE.
void install_peer_signals();

}  // namespace ipcm
