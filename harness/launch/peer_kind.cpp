#include "harness/launch/peer_kind.h"

#include "harness/core/check.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

constexpr std::size_t use_index(PeerUse u) { return std::size_t(u); }

constexpr std::array<const char*, kPeerUseCount> kOfferedEverywhere{};

constexpr std::array<const char*, kPeerUseCount> thread_refusals() {
  std::array<const char*, kPeerUseCount> r{};
  r[use_index(PeerUse::kFarmWorker)] = "the task farm runs processes; a thread peer is not offered";
  r[use_index(PeerUse::kServer)] = "a server runs in a process of its own; a thread peer is not offered";
  return r;
}

constexpr PeerKindDef kKinds[] = {
    {PeerKind::kThread, "thread", Mechanism::kThread, false, thread_refusals()},
    {PeerKind::kFork, "fork", Mechanism::kFork, true, kOfferedEverywhere},
    {PeerKind::kSpawn, "spawn", Mechanism::kSpawn, true, kOfferedEverywhere},
};

// The uses whose callers may hold other threads when they fork (TBB workers, another family's
// threads); the link and group families start their parties before any thread of their own.
constexpr bool checks_threads_before_fork(PeerUse u) { return u == PeerUse::kTeamWorker || u == PeerUse::kFarmWorker; }

}  // namespace

const PeerKindDef& peer_def(PeerKind k) {
  for (const PeerKindDef& d : kKinds)
    if (d.kind == k) return d;
  IPCM_CHECK(!"a peer kind without a row in kKinds");
  std::abort();
}

const char* peer_name(PeerKind p) { return peer_def(p).name.data(); }

std::optional<PeerKind> parse_peer(std::string_view s) {
  for (const PeerKindDef& d : kKinds)
    if (s == d.name) return d.kind;
  return std::nullopt;
}

std::string peer_refusal(PeerKind k, PeerUse use) {
  const PeerKindDef& d = peer_def(k);
  if (const char* no = d.refused[use_index(use)]) return no;
  if (d.mechanism == Mechanism::kFork && checks_threads_before_fork(use)) return fork_unsafe_reason();
  return "";
}

}  // namespace ipcm
