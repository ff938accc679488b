// The stream family's workload, written once against Channel and run by the benchmark and
// the conformance tests alike. Nothing here allocates, logs or locks inside the loop.
#pragma once

#include <atomic>
#include <cstdint>

#include "harness/core/clock.h"
#include "harness/core/message.h"
#include "harness/transports/transport.h"

namespace ipcm {

// One-way messages until more() says stop; the transport's own capacity (the link's depth)
// bounds how far the sender runs ahead. The receiver checks every message.
template <class More>
Status stream_loop(Channel& ch, MessageSet& ms, std::atomic<std::uint64_t>& progress, std::uint64_t delay_loops,
                   std::uint64_t& seq, More&& more) noexcept {
  while (more()) {
    if (delay_loops != 0) busy_loop(delay_loops);
    if (Status st = ch.send(ms.stamp(MsgKind::kData, seq)); !st) return st;
    progress.store(++seq, std::memory_order_relaxed);
  }
  return Status::Ok();
}

}  // namespace ipcm
