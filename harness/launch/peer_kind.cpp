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
    {PeerKind::kThread, Mechanism::kThread, false, thread_refusals()},
    {PeerKind::kFork, Mechanism::kFork, true, kOfferedEverywhere},
    {PeerKind::kSpawn, Mechanism::kSpawn, true, kOfferedEverywhere},
};

// Every named kind has its row, so peer_def never falls through at run time.
constexpr bool every_kind_has_a_row() {
  for (PeerKind k : kAllPeers) {
    bool found = false;
    for (const PeerKindDef& d : kKinds) found = found || d.kind == k;
    if (!found) return false;
  }
  return std::size(kKinds) == kAllPeers.size();
}
static_assert(every_kind_has_a_row());

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

std::string peer_refusal(PeerKind k, PeerUse use) {
  const PeerKindDef& d = peer_def(k);
  if (const char* no = d.refused[use_index(use)]) return no;
  if (d.mechanism == Mechanism::kFork && checks_threads_before_fork(use)) return fork_unsafe_reason();
  return "";
}

}  // namespace ipcm
