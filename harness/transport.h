// The one interface every transport implements. A transport is one file in transports/ that
// defines a TransportDef, plus one line in registry.cpp; every family, test and report then
// runs it over every peer kind. Transports move bytes and never time anything: the harness
// owns the clock and the buffers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness/status.h"

namespace ipcm {

// The contract's transport kinds: what a user would reach for in multiprocessing terms.
enum class Kind { kPipe, kQueue, kShm };
const char* kind_name(Kind k);

// How a receiver waits for a message that has not arrived yet.
enum class Wait { kSpin, kHybrid, kBlock };
const char* wait_name(Wait w);
std::optional<Wait> parse_wait(std::string_view s);

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

using Bytes = std::span<const std::byte>;

// Everything both ends agree on before a link is made.
struct ChannelConfig {
  std::size_t msg_bytes = 0;  // every message on the link has exactly this size
  std::size_t depth = 1;      // messages per direction the link should be able to hold
  Wait wait = Wait::kBlock;   // only for transports that offer a choice
  // Set by the watchdog when it gives up on the peer. Blocking calls are woken by a signal
  // (no SA_RESTART) or by Link::interrupt(); spinning calls read it.
  const std::atomic<bool>* cancel = nullptr;

  bool cancelled() const noexcept {
    return cancel != nullptr && cancel->load(std::memory_order_relaxed);
  }
};

// One end of a duplex, message-oriented connection.
class Channel {
 public:
  virtual ~Channel() = default;
  // Sends one message of exactly cfg.msg_bytes; the bytes are copied before it returns.
  virtual Status send(Bytes msg) noexcept = 0;
  // Receives the next message. `out` views it until the next recv() on this channel; a
  // transport whose data already sits in shared memory may hand out a view of it directly.
  virtual Status recv(Bytes& out) noexcept = 0;
};

// How the peer reaches the link: words for its argv, and descriptors it must inherit.
struct PeerSpec {
  std::vector<std::string> args;
  std::vector<int> fds;
};

// The objects that connect the two ends, created and owned by the parent. Destroying it
// removes every named object it created.
class Link {
 public:
  virtual ~Link() = default;
  virtual PeerSpec peer_spec() const = 0;
  // The parent's end; called once the peer has been started. It may block until the peer
  // attaches: the watchdog interrupts it if the peer never comes.
  virtual Made<Channel> open_parent() = 0;
  // After a process peer has started: close the parent's copies of descriptors that belong
  // to the peer, so that the peer's death reads as end-of-file.
  virtual void close_peer_side() noexcept {}
  // From the watchdog thread: wake anything blocked in a way a signal cannot interrupt.
  virtual void interrupt() noexcept {}
  // Messages one direction holds before the sender must wait, as the system granted it
  // (a ring's slots, a queue's depth, a pipe's or socket's buffer measured in messages):
  // the window a stream row really had. nullopt where the transport cannot tell.
  virtual std::optional<std::size_t> window_msgs() const { return std::nullopt; }
};

struct TransportDef {
  std::string_view name;
  Kind kind;
  bool crosses_processes;
  std::vector<Wait> waits;  // empty: the transport has one way to wait (it blocks)
  // The largest message the system lets this transport carry now, or nullopt for none.
  std::optional<std::size_t> (*max_msg_bytes)();
  // Where that limit comes from and how to raise it, for the error message.
  std::string_view limit_note;
  // In the parent, before the peer exists.
  Made<Link> (*create)(const ChannelConfig& cfg);
  // In the peer: a thread gets the parent's Link too; a process gets only the spec.
  Made<Channel> (*attach)(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process);
  // False when a peer that dies inside the transport's own critical section leaves it locked
  // for good (a lock that is not robust): the watchdog then ends the run rather than hang.
  bool survives_dead_peer = true;
};

// For TransportDef::max_msg_bytes when the transport sets no limit of its own.
inline std::optional<std::size_t> no_size_limit() { return std::nullopt; }

// open(2) that retries on EINTR until the config's cancel flag is set; -1 with errno otherwise.
int open_interruptible(const char* path, int flags, const ChannelConfig& cfg);

// Every transport, in the registry's order.
const std::vector<const TransportDef*>& transports();
const TransportDef* find_transport(std::string_view name);

}  // namespace ipcm
