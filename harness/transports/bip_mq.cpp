// Boost.Interprocess message_queue: a bounded queue of framed messages in a shared-memory
// segment guarded by a process-shared mutex and conditions — the native counterpart of
// multiprocessing.Queue (which adds a pickling feeder thread on top of a pipe).
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>

#include <algorithm>
#include <memory>

#include "harness/buffer.h"
#include "harness/limits.h"
#include "harness/names.h"
#include "harness/transport.h"

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
    if (got == kWakeMessageBytes && cfg_.cancelled()) return Status::Cancelled("message_queue::receive");
    if (got != cfg_.msg_bytes) return Status::Corrupt("message_queue: message of the wrong length");
    out = Bytes(buf_.data(), cfg_.msg_bytes);
    return Status::Ok();
  }

 private:
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
          q->try_send(nullptr, kWakeMessageBytes, 0);
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
    return {std::make_unique<OwningBipChannel>(std::move(out), std::move(in), cfg), {}};
  } catch (const bip::interprocess_exception& e) {
    return Made<Channel>::Fail(std::string("boost message_queue open: ") + e.what());
  }
}

}  // namespace

// Boost.Interprocess guards the queue with a process-shared mutex that is not robust: a peer
// stopped or killed while holding it wedges the queue for everyone.
extern const TransportDef kBipMqTransport{"bip_mq", Kind::kQueue, true, {}, no_size_limit, {}, create, attach, false};

}  // namespace ipcm
