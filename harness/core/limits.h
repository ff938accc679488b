// Every size, count and timeout the harness relies on, named once.
#pragma once

#include <chrono>
#include <cstddef>

namespace ipcm {

using namespace std::chrono_literals;

// A peer that neither answers nor exits for this long is killed and its benchmark errors out.
inline constexpr std::chrono::seconds kPeerTimeout{10};
// How often the watchdog repeats its wake-ups once it has cancelled a run, and how often it
// looks whether a process peer died where the kernel cannot tell it at once (no pidfd).
inline constexpr std::chrono::milliseconds kWatchdogPoll{20};
// While a run goes well the watchdog looks at the peer's progress this many times per
// peer_timeout(), and sleeps otherwise: on a KVM guest whose idle vCPUs halt, a thread waking
// every 20 ms on the peer's CPU made an independent probe's 64 B pipe round trip 4.8% faster
// (docs/probes/pipe_check.py), so the harness would have measured its own timer too.
inline constexpr int kProgressChecksPerTimeout = 10;
// kPeerTimeout, or the shorter IPCMETER_PEER_TIMEOUT_S=N (1..10 whole seconds) the
// fault-injection suite sets so that a hung peer is tested without waiting 10 s each time.
// Read once (harness/launch/launcher.cpp).
std::chrono::seconds peer_timeout();

// How often a reaper looks whether a child has ended. Short: the task farm's time runs to its
// last reap, and this bounds how much of a poll it may include.
inline constexpr std::chrono::microseconds kReapPoll{200};
// How long a parent sleeps on a futex for its workers before it looks whether one has died.
inline constexpr std::chrono::milliseconds kParentPoll{20};
// How long a worker sleeps on a futex before looking again. Whether its parent still lives is
// the kernel's job (PR_SET_PDEATHSIG); this only bounds a lost wake-up.
inline constexpr std::chrono::milliseconds kWorkerPoll{100};
// Thread parties and the many-to-many queues' blocking calls wait in slices this long and look
// at the cancel flag between them, so a failed group can always be joined. (Process parties
// blocked elsewhere are killed by the parent.)
inline constexpr std::chrono::milliseconds kCancelPoll{100};

// Messages a stream sender may have in flight before the transport makes it wait.
inline constexpr std::size_t kStreamWindow = 64;
// Memory one direction of a buffered link (ring, queue) may take; large messages get fewer slots.
inline constexpr std::size_t kLinkBytesBudget = 8u << 20;
// A buffered link holds at least this many messages per direction whatever their size.
inline constexpr std::size_t kMinLinkSlots = 2;

// Smallest message: the sequence number and checksum every message carries.
inline constexpr std::size_t kMinMessageBytes = 8;
// Largest message any family sends.
inline constexpr std::size_t kMaxMessageBytes = 1u << 20;

// The hybrid wait spins this long before it sleeps on a futex.
inline constexpr std::chrono::nanoseconds kHybridSpin{20'000};

// Cache line size assumed for layout; checked against the machine at start-up.
inline constexpr std::size_t kCacheLine = 64;

// A floor measured at the end of a run that differs from the start by more than this warns.
inline constexpr double kFloorDriftWarn = 0.20;

}  // namespace ipcm
