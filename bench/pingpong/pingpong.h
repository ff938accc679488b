// The pingpong family's workload, written once against Channel and run by the benchmark and
// the conformance tests alike. The harness owns the clock and the buffers: nothing here
// allocates, logs or locks inside the loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include "harness/core/clock.h"
#include "harness/core/histogram.h"
#include "harness/core/message.h"
#include "harness/transports/transport.h"

namespace ipcm {

// Reads every byte of a received message, as an application that uses the reply must.
// Transports that copy in recv() have paid for the bytes already (this then reads a hot
// buffer); a zero-copy recv() hands out a view into memory the other CPU wrote, and pays
// for the transfer here. Both are thereby timed for the same work.
inline void consume(Bytes msg) noexcept {
  std::uint64_t acc = 0;
  const std::byte* p = msg.data();
  std::size_t n = msg.size();
  for (; n >= sizeof acc; p += sizeof acc, n -= sizeof acc) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    acc ^= word;
  }
  for (; n > 0; ++p, --n) acc ^= std::uint64_t(*p);
  asm volatile("" : : "r"(acc));  // the fold is used, so the reads stay
}

// Round trips until more() says stop: send message `seq`, receive the echo, check it. Each
// round trip is timed from just before the send to just after the reply has been read in
// full (consume): stamping the message, checking the echo and recording the sample happen
// outside the interval, so the histogram holds the transport's round trip, the reading of
// the reply and one timer read, not the harness's bookkeeping.
template <class More>
Status pingpong_loop(Channel& ch, MessageSet& ms, Histogram& rtt_ns, std::atomic<std::uint64_t>& progress,
                     std::uint64_t delay_loops, std::uint64_t& seq, More&& more) noexcept {
  const TickClock& clock = TickClock::get();
  while (more()) {
    const Bytes msg = ms.stamp(MsgKind::kData, seq);
    const std::uint64_t start = TickClock::now();
    // Inside the interval: the calibration delay must lengthen the round trip it is timed in.
    if (delay_loops != 0) busy_loop(delay_loops);
    if (Status st = ch.send(msg); !st) return st;
    Bytes reply;
    if (Status st = ch.recv(reply); !st) return st;
    consume(reply);
    const std::uint64_t end = TickClock::now();
    if (Status st = verify_message(reply, ms.size(), MsgKind::kData, seq); !st) return st;
    rtt_ns.record(clock.to_ns_fast(end - start));
    progress.store(++seq, std::memory_order_relaxed);
  }
  return Status::Ok();
}

}  // namespace ipcm
