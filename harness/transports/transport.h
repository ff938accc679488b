// The one interface every transport implements. A transport is one file in transports/ that
// defines a TransportDef, plus one line in registry.cpp; every family, test and report then
// runs it over every peer kind it reaches. A transport whose queue is many-to-many by nature
// also offers that form (ManyToMany) in the same file, and fanin runs over it. Transports move
// bytes and never time anything: the harness owns the clock and the buffers.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "harness/core/limits.h"
#include "harness/core/name_table.h"
#include "harness/core/status.h"

namespace ipcm {

enum class PeerKind;  // harness/launch/peer.h, which includes this file

// The contract's transport kinds: what a user would reach for in multiprocessing terms.
enum class Kind { kPipe, kQueue, kShm };
inline constexpr auto kKindNames = name_table<Kind>({{Kind::kPipe, "pipe"}, {Kind::kQueue, "queue"}, {Kind::kShm, "shm"}});
static_assert(kKindNames.well_formed());
inline const char* kind_name(Kind k) { return kKindNames.name(k); }

// How a receiver waits for a message that has not arrived yet.
enum class Wait { kSpin, kHybrid, kBlock };
inline constexpr auto kWaitNames =
    name_table<Wait>({{Wait::kSpin, "spin"}, {Wait::kHybrid, "hybrid"}, {Wait::kBlock, "block"}});
static_assert(kWaitNames.well_formed());
inline const char* wait_name(Wait w) { return kWaitNames.name(w); }
inline std::optional<Wait> parse_wait(std::string_view s) { return kWaitNames.parse(s); }

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
  // Receives the next message. `out` views it until the next recv() or recv_until() on this
  // channel; a transport whose data already sits in shared memory may hand out a view of it
  // directly.
  virtual Status recv(Bytes& out) noexcept = 0;
  // recv() that gives up at `deadline` (steady clock): kTimedOut, with nothing consumed, so the
  // message that comes later is received whole by the next call. A message already there is
  // taken even when the deadline has passed. It waits as cfg.wait says (spinning, or asleep
  // in the kernel with a timeout): the load family's sender waits this way for a reply until
  // its next scheduled send. A timed-out call also ends the view of the previous message.
  virtual Status recv_until(Bytes& out, Deadline deadline) noexcept = 0;
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

// For TransportDef::max_msg_bytes when the transport sets no limit of its own.
inline std::optional<std::size_t> no_size_limit() { return std::nullopt; }

// The peer kinds a transport can reach. A thread shares the parent's address space, a forked
// or spawned child does not, so a transport that lives in one address space reaches threads
// only. The conformance test holds every transport to its set: each kind in it must carry
// messages, each kind outside it must be refused with TransportDef::refusal's sentence.
class PeerSet {
 public:
  constexpr PeerSet(std::initializer_list<PeerKind> kinds) noexcept {
    for (PeerKind k : kinds) bits_ |= bit(k);
  }
  // Every kind of a list such as kAllPeers (harness/launch/peer_kind.h).
  template <std::size_t N>
  constexpr PeerSet(const std::array<PeerKind, N>& kinds) noexcept {
    for (PeerKind k : kinds) bits_ |= bit(k);
  }
  constexpr bool has(PeerKind k) const noexcept { return (bits_ & bit(k)) != 0; }
  constexpr bool operator==(const PeerSet&) const noexcept = default;
  // The kinds that stay in this process (the peer-kind table says they do not cross
  // processes): what a transport of one address space reaches, so a new in-process kind
  // needs no edit in such a transport.
  static PeerSet in_process();

 private:
  static constexpr std::uint32_t bit(PeerKind k) noexcept { return std::uint32_t{1} << unsigned(k); }
  std::uint32_t bits_ = 0;
};

// ---- The many-to-many form: one queue that any number of parties put to and get from ----
// A Channel joins exactly two ends. The fanin family needs N producers and M consumers on one
// queue object, so a transport whose queue is many-to-many by nature offers this second form.

// Where the parties of a group find the queue: text short enough to sit in the group's shared
// memory (a name for a named object; empty when only a thread can reach it).
inline constexpr std::size_t kQueueAddressBytes = 96;
// A queue's blocking calls wait at most kCancelPoll (harness/core/limits.h) at a time and look at
// the cancel flag between waits, so a failed group never leaves a party waiting for a message
// that will not come.

struct QueueConfig {
  std::size_t msg_bytes = 0;  // every message has exactly this size
  std::size_t depth = 1;      // messages the queue holds before producers wait
  // Set when the group is stopped; blocking calls give up (kCancelled) once it is.
  const std::atomic<std::uint32_t>* cancel = nullptr;

  bool cancelled() const noexcept {
    return cancel != nullptr && cancel->load(std::memory_order_relaxed) != 0;
  }
};

// One party's access to the shared queue. Safe to use from one thread at a time; every party
// opens its own.
class QueueEnd {
 public:
  virtual ~QueueEnd() = default;
  // Puts one message of exactly cfg.msg_bytes (copied before it returns); waits while full.
  virtual Status put(Bytes msg) noexcept = 0;
  // Copies the next message into `buf` and sets `got` to its length; waits while empty.
  virtual Status get(std::span<std::byte> buf, std::size_t& got) noexcept = 0;
  // A producer's last call, after its last put: returns once the queue holds every message it
  // put, so that closing the end loses none. Ok at once where put() already hands the bytes
  // to the queue itself (a kernel queue, shared memory); a queue behind a library's socket
  // waits for its server to say so (ZeroMQ's device, zmq_common.h).
  virtual Status finish() noexcept { return Status::Ok(); }
};

// The queue, created and owned by the parent. Destroying it removes every named object it
// created.
class SharedQueue {
 public:
  virtual ~SharedQueue() = default;
  virtual std::string address() const = 0;
  // Once the group's parties have been started (they may not have opened the queue yet): a queue
  // whose own threads must not exist when a party forks (ZeroMQ's forwarding device,
  // zmq_common.h) starts them here. "" or why it could not.
  virtual std::string start_serving() { return ""; }
  // CPU time the queue's own threads have spent so far (a device's), so that a row charges it
  // with the parties' own; 0 for a queue without threads.
  virtual std::uint64_t serving_cpu_ns() const noexcept { return 0; }
  // When the group is stopped: wake parties blocked where the cancel flag cannot reach.
  virtual void interrupt() noexcept {}
};

// It reaches the same peer kinds as its transport's Channel form, and has the same size limit.
struct ManyToMany {
  // In the parent, before the parties exist.
  Made<SharedQueue> (*create)(const QueueConfig& cfg) = nullptr;
  // In each party (and the parent). A party in the parent's process gets the parent's queue
  // too; a process gets only the address.
  Made<QueueEnd> (*open)(const std::string& address, const QueueConfig& cfg, SharedQueue* same_process) = nullptr;
  // For a queue transport without this form: why, for the rows fanin lists.
  std::string_view why_not = {};

  explicit operator bool() const noexcept { return create != nullptr && open != nullptr; }
};

// A transport: plain data, written with designated initialisers so each field names itself.
struct TransportDef {
  std::string_view name;
  Kind kind;
  PeerSet peers;                 // the peer kinds it can reach
  std::vector<Wait> waits = {};  // empty: the transport has one way to wait (it blocks)
  // Why the peer kinds outside `peers` cannot be reached, when the kind of link alone does not
  // say it (a library that cannot run in a forked child); appended to the refusal sentence.
  std::string_view peers_note = {};
  // The messaging library it measures ("zeromq", "nng"); empty for the system's own channels.
  // A profile may sweep fewer link rows of a library transport (Profile::narrow_library_links).
  std::string_view library = {};
  // The largest message the system lets this transport carry now, or nullopt for none.
  std::optional<std::size_t> (*max_msg_bytes)() = no_size_limit;
  // Where that limit comes from and how to raise it, for the error message.
  std::string_view limit_note = {};
  // In the parent, before the peer exists.
  Made<Link> (*create)(const ChannelConfig& cfg) = nullptr;
  // In the peer: a thread gets the parent's Link too; a process gets only the spec.
  Made<Channel> (*attach)(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) = nullptr;
  // False when a peer that dies inside the transport's own critical section leaves it locked
  // for good (a lock that is not robust): the watchdog then ends the run rather than hang.
  bool survives_dead_peer = true;
  // The many-to-many form, for transports that offer one (fanin); empty otherwise.
  ManyToMany many_to_many = {};
  // How a transport that does not copy the payload through a kernel or a buffer of its own
  // moves it (the receiver reads the sender's memory in place); empty for a copying transport.
  std::string_view zero_copy = {};

  bool reaches(PeerKind peer) const noexcept { return peers.has(peer); }
  // Reaches some peer that is not a thread of this process (the results file's field).
  bool crosses_processes() const noexcept;
  // Why this transport cannot carry messages of `msg_bytes` to a `peer` peer, or "". The one
  // source of that sentence for every family, test and report.
  std::string refusal(PeerKind peer, std::size_t msg_bytes) const;
};

// open(2) that retries on EINTR until the config's cancel flag is set; -1 with errno otherwise.
int open_interruptible(const char* path, int flags, const ChannelConfig& cfg);

// Every transport, in the registry's order.
const std::vector<const TransportDef*>& transports();
const TransportDef* find_transport(std::string_view name);

}  // namespace ipcm
