// Boost.Interprocess message_queue: a bounded queue of framed messages in a shared-memory
// segment guarded by a process-shared mutex and conditions — the native counterpart of
// multiprocessing.Queue (which adds a pickling feeder thread on top of a pipe). One queue is
// many-to-many by nature (every party opens the segment by name), so fanin uses it as it is.
//
// What a hostile peer can do here, and what ipcmeter cannot check: the queue's header, index
// and message headers (offset pointers, counts, each message's length) live in the shared
// segment and are read by Boost's own code under its mutex. receive() copies a message's
// recorded length into our buffer after checking only that the buffer is as large as the
// header's max_msg_size: a peer that rewrites a message's length or an index offset makes Boost
// itself read or write out of bounds, before any code of ours sees the value. ipcmeter checks
// what it can: each end compares the queue's size fields with the link's config when it opens
// it (a peer that enlarged max_msg_size makes Boost throw in receive(), which ends the row), and
// a received length other than the link's message size is kCorrupt. A peer that corrupts
// the mutex or the conditions can leave the other side waiting: the watchdog's wake-up
// message and cancel flag end that at the peer timeout. Use shm_ring to test against a peer
// that is not trusted.
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>

#include <algorithm>
#include <memory>

#include "harness/core/buffer.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/launch/peer.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

namespace bip = boost::interprocess;

// A zero-length message never carries data: the watchdog posts it to wake a receiver that
// the queue's condition variable would otherwise keep asleep (signals do not interrupt it).
constexpr std::size_t kWakeMessageBytes = 0;

class BipChannel final : public Channel {
 public:
  BipChannel(bip::message_queue& out, bip::message_queue& in, const ChannelConfig& cfg)
      : out_(out), in_(in), cfg_(cfg), buf_(cfg.msg_bytes) {}
  Status send(Bytes msg) noexcept override {
    try {
      out_.send(msg.data(), msg.size(), 0);
    } catch (const bip::interprocess_exception&) {
      return Status::Sys("message_queue::send", EIO);
    }
    return cfg_.cancelled() ? Status::Cancelled("message_queue::send") : Status::Ok();
  }
  Status recv(Bytes& out) noexcept override {
    bip::message_queue::size_type got = 0;
    unsigned prio = 0;
    try {
      in_.receive(buf_.data(), cfg_.msg_bytes, got, prio);
    } catch (const bip::interprocess_exception&) {
      return Status::Sys("message_queue::receive", EIO);
    }
    return received(got, out);
  }
  // Boost's timed_receive takes an absolute time on its universal (UTC) clock, to the
  // microsecond: the steady deadline's distance from now, added to that clock's now.
  Status recv_until(Bytes& out, Deadline deadline) noexcept override {
    bip::message_queue::size_type got = 0;
    unsigned prio = 0;
    bool arrived = false;
    try {
      const auto left = std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count());
      const boost::posix_time::ptime at =
          boost::posix_time::microsec_clock::universal_time() + boost::posix_time::microseconds(left);
      arrived = in_.timed_receive(buf_.data(), cfg_.msg_bytes, got, prio, at);
    } catch (const std::exception&) {
      return Status::Sys("message_queue::timed_receive", EIO);
    }
    if (!arrived) return cfg_.cancelled() ? Status::Cancelled("message_queue::timed_receive")
                                          : Status::TimedOut("message_queue::timed_receive");
    return received(got, out);
  }

 private:
  Status received(bip::message_queue::size_type got, Bytes& out) noexcept {
    if (got == kWakeMessageBytes && cfg_.cancelled()) return Status::Cancelled("message_queue::receive");
    if (got != cfg_.msg_bytes) return Status::Corrupt("message_queue: message of the wrong length");
    out = Bytes(buf_.data(), cfg_.msg_bytes);
    return Status::Ok();
  }

  bip::message_queue& out_;
  bip::message_queue& in_;
  ChannelConfig cfg_;
  AlignedBuffer buf_;
};

// A process peer opens the queues by name and keeps them alive with its channel.
class OwningBipChannel final : public Channel {
 public:
  OwningBipChannel(std::unique_ptr<bip::message_queue> out, std::unique_ptr<bip::message_queue> in,
                   const ChannelConfig& cfg)
      : out_(std::move(out)), in_(std::move(in)), ch_(*out_, *in_, cfg) {}
  Status send(Bytes msg) noexcept override { return ch_.send(msg); }
  Status recv(Bytes& out) noexcept override { return ch_.recv(out); }
  Status recv_until(Bytes& out, Deadline deadline) noexcept override { return ch_.recv_until(out, deadline); }

 private:
  std::unique_ptr<bip::message_queue> out_, in_;
  BipChannel ch_;
};

class BipLink final : public Link {
 public:
  std::string to_name, from_name;
  std::unique_ptr<bip::message_queue> to_peer, from_peer;
  ChannelConfig cfg;

  ~BipLink() override {
    to_peer.reset();
    from_peer.reset();
    for (const std::string* n : {&to_name, &from_name}) {
      if (!n->empty()) {
        bip::message_queue::remove(n->c_str());
        forget_object(NameSpace::kShm, *n);
      }
    }
  }
  PeerSpec peer_spec() const override { return {{"bip:" + to_name, from_name}, {}}; }
  Made<Channel> open_parent() override {
    return {std::make_unique<BipChannel>(*to_peer, *from_peer, cfg), {}};
  }
  std::optional<std::size_t> window_msgs() const override { return std::size_t(to_peer->get_max_msg()); }
  void interrupt() noexcept override {
    for (auto* q : {to_peer.get(), from_peer.get()}) {
      try {
        // Room for a blocked sender, or a wake-up message for a blocked receiver.
        if (q->get_num_msg() >= q->get_max_msg()) {
          bip::message_queue::size_type got;
          unsigned prio;
          AlignedBuffer scratch(cfg.msg_bytes);
          q->try_receive(scratch.data(), cfg.msg_bytes, got, prio);
        } else {
          // A real (if unused) buffer, not nullptr: Boost copies the message with memcpy,
          // and memcpy from a null pointer is undefined even for 0 bytes (UBSan's report).
          static const std::byte kNoBytes[1]{};
          q->try_send(kNoBytes, kWakeMessageBytes, 0);
        }
      } catch (const bip::interprocess_exception&) {
      }
    }
  }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<BipLink>();
  link->cfg = cfg;
  const std::size_t slots = std::clamp(std::min(cfg.depth, kLinkBytesBudget / cfg.msg_bytes), kMinLinkSlots, kStreamWindow);
  bip::permissions owner_only(0600);
  try {
    for (auto [name, q] : {std::pair{&link->to_name, &link->to_peer}, std::pair{&link->from_name, &link->from_peer}}) {
      *name = unique_name("bipmq");
      // create_only is O_CREAT|O_EXCL: an existing object of that name is an error, never reused.
      *q = std::make_unique<bip::message_queue>(bip::create_only, name->c_str(), slots, cfg.msg_bytes, owner_only);
      record_object(NameSpace::kShm, *name);
    }
  } catch (const bip::interprocess_exception& e) {
    return Made<Link>::Fail(std::string("boost message_queue: ") + e.what());
  }
  return {std::move(link), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  if (same_process != nullptr) {
    auto* link = static_cast<BipLink*>(same_process);
    return {std::make_unique<BipChannel>(*link->from_peer, *link->to_peer, cfg), {}};
  }
  if (spec.args.size() != 2 || spec.args[0].rfind("bip:", 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the queues");
  try {
    auto in = std::make_unique<bip::message_queue>(bip::open_only, spec.args[0].substr(4).c_str());
    auto out = std::make_unique<bip::message_queue>(bip::open_only, spec.args[1].c_str());
    // The sizes Boost will trust from now on, compared once with what this link was made for.
    for (const auto* q : {in.get(), out.get()})
      if (const auto got = q->get_max_msg_size(); got != cfg.msg_bytes)
        return Made<Channel>::Fail("boost message_queue header: max_msg_size = " + std::to_string(got) + ", expected " +
                                   std::to_string(cfg.msg_bytes));
    return {std::make_unique<OwningBipChannel>(std::move(out), std::move(in), cfg), {}};
  } catch (const bip::interprocess_exception& e) {
    return Made<Channel>::Fail(std::string("boost message_queue open: ") + e.what());
  }
}

// ---- Many-to-many: one queue every party opens by name ----

class BipEnd final : public QueueEnd {
 public:
  BipEnd(std::unique_ptr<bip::message_queue> q, const QueueConfig& cfg) : q_(std::move(q)), cfg_(cfg) {}
  Status put(Bytes msg) noexcept override {
    try {
      while (!q_->timed_send(msg.data(), msg.size(), 0, poll_deadline()))
        if (cfg_.cancelled()) return Status::Cancelled("message_queue::timed_send");
    } catch (const bip::interprocess_exception& e) {
      return Status::Sys("message_queue::timed_send", e.get_native_error() ? e.get_native_error() : EIO);
    }
    return Status::Ok();
  }
  Status get(std::span<std::byte> buf, std::size_t& got) noexcept override {
    try {
      bip::message_queue::size_type g = 0;
      unsigned prio = 0;
      while (!q_->timed_receive(buf.data(), buf.size(), g, prio, poll_deadline()))
        if (cfg_.cancelled()) return Status::Cancelled("message_queue::timed_receive");
      got = g;
    } catch (const bip::interprocess_exception& e) {
      return Status::Sys("message_queue::timed_receive", e.get_native_error() ? e.get_native_error() : EIO);
    }
    return Status::Ok();
  }

 private:
  // timed_send/receive take an absolute UTC deadline.
  static boost::posix_time::ptime poll_deadline() {
    return boost::posix_time::microsec_clock::universal_time() +
           boost::posix_time::milliseconds(kCancelPoll.count());
  }
  std::unique_ptr<bip::message_queue> q_;
  QueueConfig cfg_;
};

class SharedBip final : public SharedQueue {
 public:
  std::string name;
  std::unique_ptr<bip::message_queue> q;
  ~SharedBip() override {
    if (q) {
      q.reset();
      bip::message_queue::remove(name.c_str());
      forget_object(NameSpace::kShm, name);
    }
  }
  std::string address() const override { return name; }
};

Made<SharedQueue> create_shared(const QueueConfig& cfg) {
  auto s = std::make_unique<SharedBip>();
  s->name = unique_name("fanin-bipmq");
  try {
    // create_only is O_CREAT|O_EXCL: an existing object of that name is an error, never reused.
    s->q = std::make_unique<bip::message_queue>(bip::create_only, s->name.c_str(), cfg.depth, cfg.msg_bytes,
                                                bip::permissions(0600));
  } catch (const bip::interprocess_exception& e) {
    return Made<SharedQueue>::Fail(std::string("boost message_queue: ") + e.what());
  }
  record_object(NameSpace::kShm, s->name);
  return {std::move(s), {}};
}

Made<QueueEnd> open_shared(const std::string& address, const QueueConfig& cfg, SharedQueue*) {
  try {
    return {std::make_unique<BipEnd>(std::make_unique<bip::message_queue>(bip::open_only, address.c_str()), cfg), {}};
  } catch (const bip::interprocess_exception& e) {
    return Made<QueueEnd>::Fail("message_queue open " + address + ": " + e.what());
  }
}

}  // namespace

extern const TransportDef kBipMqTransport{
    .name = "bip_mq",
    .kind = Kind::kQueue,
    .peers = kAllPeers,
    .create = create,
    .attach = attach,
    // Boost.Interprocess guards the queue with a process-shared mutex that is not robust: a
    // peer stopped or killed while holding it wedges the queue for everyone.
    .survives_dead_peer = false,
    .many_to_many = {.create = create_shared, .open = open_shared},
};

}  // namespace ipcm
