// iceoryx (Debian's 2.0): zero-copy publish/subscribe through shared memory that RouDi, its
// daemon, manages (harness/transports/roudi.h starts, adopts and stops RouDi and makes the
// runtime). One publisher and one subscriber per direction, on a service named after the link.
//
// Zero copy, as iceoryx is meant to be used: send() loans a chunk from RouDi's mempool, writes
// the message into it (the one write any producer makes: here the harness's stamped message)
// and publishes the chunk, which passes a pointer to the subscriber's queue; recv() takes the
// chunk and hands out a view of it in place, held until the next recv() releases it.
//
// Flow control is iceoryx's own: the publisher waits for the subscriber (WAIT_FOR_CONSUMER) when
// the subscriber's queue (BLOCK_PRODUCER, at most 256 chunks) is full, so nothing is dropped.
// That wait, inside iceoryx, cannot be interrupted; it ends when RouDi removes a dead or stopped
// subscriber (its keep-alive timeout, 1.5 s, inside the watchdog's grace). Publishing then
// reaches nobody and returns at once, so send() looks at the cancel flag: without it a struck
// stream row published to nobody for the rest of its budget and the watchdog, seeing the
// parent still busy 5 s after the peer's death, ended the run (2026-12-02). A receiver waits
// on a WaitSet (iceoryx's way to wait; one wait mode keeps the library's rows within their
// share of the quick profile) in slices of kCancelPoll, looking at the cancel flag between them.
//
// Peers: a thread shares the parent's runtime; a forked or spawned child registers its own
// (roudi.h explains why a fork may, although iceoryx allows one runtime per process).
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"

#include "harness/core/clock.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/launch/launcher.h"
#include "harness/launch/peer.h"
#include "harness/transports/roudi.h"
#include "harness/transports/transport.h"

namespace ipcm {
namespace {

constexpr const char* kService = "ipcmeter";
constexpr const char* kToPeer = "to_peer";
constexpr const char* kToParent = "to_parent";
// Messages sit in chunks on a cache line, like the other transports' buffers.
constexpr std::uint32_t kPayloadAlign = kCacheLine;
// How often a side looks whether the other has subscribed while the link is made.
constexpr auto kConnectPoll = std::chrono::milliseconds(1);

// The subscriber queue: the link's window. As the other buffered links, sized by the memory
// budget, at least kMinLinkSlots, and within iceoryx's maximum queue capacity.
std::size_t queue_capacity(const ChannelConfig& cfg) {
  const std::size_t by_budget = kLinkBytesBudget / std::max<std::size_t>(cfg.msg_bytes, 1);
  const std::size_t want = std::max(cfg.depth, kStreamWindow);
  return std::clamp(std::min(by_budget, want), kMinLinkSlots, std::size_t(iox::MAX_SUBSCRIBER_QUEUE_CAPACITY));
}

iox::capro::IdString_t id(const std::string& s) {
  return iox::capro::IdString_t(iox::cxx::TruncateToCapacity, s.c_str(), s.size());
}

iox::capro::ServiceDescription service(const std::string& link, const char* direction) {
  return {id(kService), id(link), id(direction)};
}

Status loan_failed(iox::popo::AllocationError e) noexcept {
  switch (e) {
    case iox::popo::AllocationError::NO_MEMPOOLS_AVAILABLE:
      return {.code = Status::kTooBig,
              .what = "iceoryx loan: RouDi has no mempool with chunks this big (its config file, iox-roudi -c FILE, sets them)"};
    case iox::popo::AllocationError::RUNNING_OUT_OF_CHUNKS:
      return {.code = Status::kTooBig, .what = "iceoryx loan: RouDi's mempool for this size ran out of chunks"};
    case iox::popo::AllocationError::TOO_MANY_CHUNKS_ALLOCATED_IN_PARALLEL:
      return {.code = Status::kTooBig, .what = "iceoryx loan: too many chunks loaned at once"};
    default:
      return {.code = Status::kTooBig, .what = "iceoryx loan failed"};
  }
}

class IoxChannel final : public Channel {
 public:
  // `out` and `in` are the directions this end publishes and subscribes to.
  IoxChannel(const std::string& link, const char* out, const char* in, const ChannelConfig& cfg)
      : cfg_(cfg),
        pub_(service(link, out), publisher_options()),
        sub_(service(link, in), subscriber_options(cfg)) {
    // The attachment's state, not an event: the WaitSet wakes while data is there.
    attached_ = !waitset_.attachState(sub_, iox::popo::SubscriberState::HAS_DATA).has_error();
  }
  ~IoxChannel() override { release_held(); }

  // Until this end's publisher has the other end's subscriber (RouDi connects them in its
  // discovery loop): a message published before that would reach nobody.
  std::string connect() {
    if (!attached_) return "iceoryx: cannot attach the subscriber to a WaitSet";
    const auto until = Clock::now() + peer_timeout();
    while (!pub_.hasSubscribers()) {
      if (cfg_.cancelled()) return "iceoryx: cancelled while waiting for the other end to subscribe";
      if (Clock::now() > until)
        return "iceoryx: the other end did not subscribe within " + std::to_string(peer_timeout().count()) + " s";
      std::this_thread::sleep_for(kConnectPoll);
    }
    return "";
  }

  Status send(Bytes msg) noexcept override {
    // Once RouDi has dropped a dead subscriber a publish returns at once: the flag ends the loop.
    if (cfg_.cancelled()) return Status::Cancelled("iceoryx publish");
    auto loaned = pub_.loan(std::uint32_t(msg.size()), kPayloadAlign);
    if (loaned.has_error()) return loan_failed(loaned.get_error());
    void* chunk = loaned.value();
    std::memcpy(chunk, msg.data(), msg.size());
    pub_.publish(chunk);
    return Status::Ok();
  }

  Status recv(Bytes& out) noexcept override { return receive(out, std::nullopt); }
  Status recv_until(Bytes& out, Deadline deadline) noexcept override { return receive(out, deadline); }

 private:
  static iox::popo::PublisherOptions publisher_options() {
    iox::popo::PublisherOptions o;
    o.historyCapacity = 0;
    o.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
    return o;
  }
  static iox::popo::SubscriberOptions subscriber_options(const ChannelConfig& cfg) {
    iox::popo::SubscriberOptions o;
    o.queueCapacity = queue_capacity(cfg);
    o.historyRequest = 0;
    o.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
    return o;
  }

  void release_held() noexcept {
    if (held_ == nullptr) return;
    sub_.release(held_);
    held_ = nullptr;
  }

  Status receive(Bytes& out, std::optional<Deadline> deadline) noexcept {
    release_held();
    for (;;) {
      auto taken = sub_.take();
      if (!taken.has_error()) {
        held_ = taken.value();
        const std::uint32_t size = iox::mepoo::ChunkHeader::fromUserPayload(held_)->userPayloadSize();
        if (size != cfg_.msg_bytes) return Status::Corrupt("iceoryx: a chunk's payload size is not the link's message size", size);
        out = Bytes(static_cast<const std::byte*>(held_), size);
        return Status::Ok();
      }
      if (taken.get_error() != iox::popo::ChunkReceiveResult::NO_CHUNK_AVAILABLE)
        return Status::Closed("iceoryx take: too many chunks held");
      if (cfg_.cancelled()) return Status::Cancelled("iceoryx receive");
      if (deadline && Clock::now() >= *deadline) return Status::TimedOut("iceoryx receive");
      auto slice = std::chrono::duration_cast<std::chrono::milliseconds>(kCancelPoll);
      if (deadline)
        slice = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now()),
                           std::chrono::milliseconds(1), slice);
      // The watchdog wakes blocked calls with SIGUSR1; iceoryx takes an interrupted semaphore
      // wait for a corrupted one and aborts the process. Masked for the slice, which ends by
      // itself within kCancelPoll; the signal stays pending until then.
      sigset_t old;
      pthread_sigmask(SIG_BLOCK, &usr1_, &old);
      (void)waitset_.timedWait(iox::units::Duration::fromMilliseconds(slice.count()));
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  }

  ChannelConfig cfg_;
  iox::popo::UntypedPublisher pub_;
  iox::popo::UntypedSubscriber sub_;
  // After the subscriber, so that it is destroyed (detached) first.
  iox::popo::WaitSet<1> waitset_;
  bool attached_ = false;
  sigset_t usr1_ = [] {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    return s;
  }();
  const void* held_ = nullptr;  // the chunk the last recv() handed out
};

// Where abandoned ends (below) go: never destroyed, and reachable until exit, so that
// LeakSanitizer does not take them for leaks.
void keep_abandoned(std::unique_ptr<IoxChannel> ch) {
  static std::mutex mu;
  static auto* kept = new std::vector<std::unique_ptr<IoxChannel>>();
  std::lock_guard<std::mutex> lock(mu);
  kept->push_back(std::move(ch));
}

// One end's channel as the rest of ipcmeter holds it. A process peer's end owns its runtime:
// destroying it deregisters the process from RouDi.
//
// A cancelled link (the watchdog found the peer dead, stopped or silent) is abandoned, not torn
// down: iceoryx 2.0's port locks are not robust, and a peer killed inside a publish holds this
// end's subscriber-queue lock for good, so detaching the subscriber from its WaitSet
// (unsetConditionVariable) would block forever — a whole run hung there (gdb, 2026-12-02).
// Nothing in the process touches its ports again. RouDi itself may block on the peer's
// publisher lock, so it is distrusted (roudi.h): a RouDi of ipcmeter's is replaced, and the
// abandoned ports go with it.
class EndChannel final : public Channel {
 public:
  EndChannel(std::unique_ptr<IoxChannel> ch, const ChannelConfig& cfg, bool owns_runtime)
      : ch_(std::move(ch)), cfg_(cfg), owns_runtime_(owns_runtime) {}
  ~EndChannel() override {
    if (cfg_.cancelled()) {
      keep_abandoned(std::move(ch_));  // abandoned on purpose, see above
      distrust_roudi();
      return;
    }
    ch_.reset();
    if (owns_runtime_) destroy_runtime();
  }
  Status send(Bytes msg) noexcept override { return ch_->send(msg); }
  Status recv(Bytes& out) noexcept override { return ch_->recv(out); }
  Status recv_until(Bytes& out, Deadline d) noexcept override { return ch_->recv_until(out, d); }

 private:
  std::unique_ptr<IoxChannel> ch_;
  ChannelConfig cfg_;
  bool owns_runtime_;
};

Made<Channel> open_end(const std::string& link, const char* out, const char* in, const ChannelConfig& cfg,
                       bool owns_runtime) {
  auto ch = std::make_unique<IoxChannel>(link, out, in, cfg);
  if (std::string why = ch->connect(); !why.empty()) {
    ch.reset();
    if (owns_runtime) destroy_runtime();
    return Made<Channel>::Fail(why);
  }
  return {std::make_unique<EndChannel>(std::move(ch), cfg, owns_runtime), {}};
}

class IoxLink final : public Link {
 public:
  RoudiLease lease;  // first member: released last, after every port of the link is gone
  std::string link;
  std::string peer_runtime;  // a process peer's runtime name, whose socket the parent removes
  ChannelConfig cfg;

  ~IoxLink() override {
    const std::string sock = runtime_socket(peer_runtime);
    for (const std::string& f : {sock, sock + ".lock"}) {
      unlink(f.c_str());
      forget_object(NameSpace::kFile, f);
    }
  }
  PeerSpec peer_spec() const override { return {{"iox:" + link, "runtime:" + peer_runtime}, {}}; }
  Made<Channel> open_parent() override {
    std::string why;
    // The parent's runtime is made here, after a forked peer exists, not in create().
    if (!ensure_runtime(runtime_name(), why)) return Made<Channel>::Fail(why);
    return open_end(link, kToPeer, kToParent, cfg, false);
  }
  std::optional<std::size_t> window_msgs() const override { return queue_capacity(cfg); }
};

Made<Link> create(const ChannelConfig& cfg) {
  auto l = std::make_unique<IoxLink>();
  std::string why;
  l->lease = RoudiLease::acquire(why);
  if (!l->lease) return Made<Link>::Fail(why);
  l->cfg = cfg;
  l->link = unique_name("link");
  l->peer_runtime = runtime_name();
  // iceoryx makes the peer's socket under its runtime's name; recorded so SIGINT removes it.
  record_object(NameSpace::kFile, runtime_socket(l->peer_runtime));
  record_object(NameSpace::kFile, runtime_socket(l->peer_runtime) + ".lock");
  return {std::move(l), {}};
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  std::string why;
  if (same_process != nullptr) {
    auto* l = static_cast<IoxLink*>(same_process);
    if (!ensure_runtime(runtime_name(), why)) return Made<Channel>::Fail(why);
    return open_end(l->link, kToParent, kToPeer, cfg, false);
  }
  if (spec.args.size() != 2 || spec.args[0].rfind("iox:", 0) != 0 || spec.args[1].rfind("runtime:", 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the iceoryx link and runtime");
  if (!ensure_runtime(spec.args[1].substr(8), why)) return Made<Channel>::Fail(why);
  return open_end(spec.args[0].substr(4), kToParent, kToPeer, cfg, true);
}

std::optional<std::size_t> max_msg_bytes() { return roudi_max_payload(); }

}  // namespace

extern const TransportDef kIceoryxTransport{
    .name = "iceoryx",
    .kind = Kind::kShm,
    .peers = kAllPeers,
    .library = "iceoryx",
    .max_msg_bytes = max_msg_bytes,
    .limit_note = "the largest chunk of the mempools ipcmeter starts RouDi with; a RouDi used with "
                  "--iceoryx=use-running has the pools of its own config file (iox-roudi -c FILE)",
    .create = create,
    .attach = attach,
    // A peer killed inside its publish leaves its publisher's lock held, and RouDi blocks on that
    // lock when it cleans up after this process: the runtime's deregistration waited for ever
    // (gdb, 2026-12-02: 1 of 15 killed-peer tests). After a cancelled link the parent kills its
    // RouDi before it deregisters, and starts another for the next link (distrust_roudi).
    .survives_dead_peer = true,
    .zero_copy = "loaned: the sender writes the message into a chunk loaned from RouDi's shared memory and "
                 "publishes a pointer to it; the receiver reads it in place (released at its next recv)",
};

}  // namespace ipcm
