// Test-only hooks for the fault-injection suite (tests/faults), read once from the
// environment at start-up. Unset, they change nothing and cost nothing in a timed loop.
// (IPCMETER_PEER_TIMEOUT_S, which shortens the peer timeout, is read by peer_timeout(),
// declared in harness/core/limits.h beside the constant it shortens.)
//   IPCMETER_FAULT=exit:N       a peer exits with kPeerChannelFailed after N data messages;
//   IPCMETER_FAULT=garbage:N    or sends garbage in place of its next echo or ack.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "harness/transports/transport.h"

namespace ipcm {

// A peer's channel with the injected fault applied, or null when none is asked for.
std::unique_ptr<Channel> with_injected_fault(Channel& inner, std::size_t msg_bytes);

}  // namespace ipcm
