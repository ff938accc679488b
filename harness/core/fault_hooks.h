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
#include <optional>
#include <string>

#include "harness/transports/transport.h"

namespace ipcm {

// A peer's channel with the injected fault applied, or null when none is asked for.
std::unique_ptr<Channel> with_injected_fault(Channel& inner, std::size_t msg_bytes);

// ---- For the hostile-peer tests (tests/hostile_peer_test.cpp) ----
// Where the shared words of a structure lie in its named segment, so a forked child acting as
// the peer can corrupt exactly one field and the test can check the other side's answer. Each
// is computed by the code that owns the layout (offsetof there), not copied into the tests.

// A shm_ring link (harness/transports/shm_ring.cpp). Direction 0 carries parent -> peer,
// direction 1 peer -> parent.
struct ShmRingLayout {
  std::string segment;  // the Boost.Interprocess name: /dev/shm/<segment>
  std::size_t segment_bytes = 0;
  std::size_t magic = 0, msg_bytes = 0, slots_field = 0, stride_field = 0, small_field = 0;  // header fields
  std::size_t consumed[2]{};  // each direction's receiver count
  std::size_t ring[2]{};      // each direction's slot 0, line 0 (a stamp)
  std::size_t slots = 0, stride = 0, line = 0;
  bool small = false;
  std::size_t stamp(int dir, std::size_t slot, std::size_t l = 0) const { return ring[dir] + slot * stride + l * line; }
};
// nullopt unless `link` is a shm_ring link.
std::optional<ShmRingLayout> shm_ring_layout(const Link& link);

// The process_pool_shm executor's segment (bench/pool/pool.cpp), named ...-pool.
struct PoolShmLayout {
  std::size_t tasks = 0, chunk = 0, chunks = 0, generation = 0, next = 0, done = 0;
};
PoolShmLayout pool_shm_layout();

// A compute team's header (bench/compute/compute.cpp), at the start of its ...-compute segment.
struct ComputeHeaderLayout {
  std::size_t generation = 0, done = 0, attached = 0;
};
ComputeHeaderLayout compute_header_layout();

}  // namespace ipcm
