// Every size, count and timeout the harness relies on, named once.
#pragma once

#include <chrono>
#include <cstddef>

namespace ipcm {

using namespace std::chrono_literals;

// A peer that neither answers nor exits for this long is killed and its benchmark errors out.
inline constexpr std::chrono::seconds kPeerTimeout{10};
// How often the watchdog looks at the peer; also bounds how late a dead peer is noticed.
inline constexpr std::chrono::milliseconds kWatchdogPoll{20};

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
