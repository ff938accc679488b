// The fanin family's workload: N producers and M consumers on one queue, as a
// multiprocessing.JoinableQueue: producers put, consumers get, check and task_done, and the
// parent joins until every message has been processed, then sends each consumer a stop.
//
// Why not Channel: a Channel is one end of a point-to-point link. Many-to-many needs every
// party to reach the same queue object, so fanin runs over a transport's many-to-many form
// (TransportDef::many_to_many), which each queue transport implements in its own file: the
// parent creates the queue, every party opens it by the address it finds in shared memory (a
// thread party may use the parent's object). Reach and size limits come from the same
// TransportDef::refusal the other families use, so a combination refused there is refused
// here with the same sentence; a queue transport without the form is listed with the reason.
//
// Exactly once: every message carries (producer, seq) and a checksum of its payload. Each
// consumer checks the checksum and that each producer's seqs arrive strictly increasing (the
// queue is FIFO), and keeps per producer a count, a sum and a sum of squares of the seqs; the
// parent reconciles them against 0..n-1 for every producer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>
#include <string>

#include "harness/launch/peer.h"
#include "harness/transports/transport.h"

namespace ipcm {

// (producer, kind, seq, checksum): the smallest message fanin sends.
inline constexpr std::size_t kFaninHeaderBytes = 24;
// Messages the queue holds before producers wait.
inline constexpr std::size_t kFaninDepth = 64;

struct FaninPlan {
  const TransportDef* transport = nullptr;
  PeerKind peer = PeerKind::kThread;
  int producers = 1;
  int consumers = 1;
  std::size_t size = 64;
  std::uint64_t messages = 1000;  // in all, shared out among the producers
  // Fault injection for tests: called with the party processes once the gate is open.
  std::function<void(const std::vector<pid_t>&)> on_running;
};

struct FaninResult {
  std::string error;
  std::uint64_t messages = 0;
  double seconds = 0;        // gate open to the join
  std::uint64_t cpu_ns = 0;  // producers' and consumers' CPU over the run
};

// The transports fanin lists: the registry's queue kind (those without the many-to-many form
// are refused with the reason).
bool fanin_transport(const TransportDef& t);
// Why the combination cannot run here, or "".
std::string fanin_refusal(const TransportDef& t, PeerKind peer, std::size_t size);

FaninResult run_fanin(const FaninPlan& plan);

}  // namespace ipcm
