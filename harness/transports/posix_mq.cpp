// POSIX message queues (mq_open): kernel-held, message-framed queues, one per direction.
// Their limits come from the system: /proc/sys/fs/mqueue/msgsize_max and msg_max bind
// unprivileged users, RLIMIT_MSGQUEUE binds the bytes a user may hold in queues. A queue is
// many-to-many by nature (every party mq_opens the name), so fanin uses it as it is.
#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fstream>

#include "harness/core/buffer.h"
#include "harness/transports/fd_channel.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/launch/peer.h"

namespace ipcm {
namespace {

constexpr const char* kMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max";
constexpr const char* kMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";
// The kernel's HARD_MSGSIZEMAX: the ceiling even for a privileged caller.
constexpr std::size_t kHardMsgsizeMax = 16u << 20;

std::optional<std::size_t> read_limit(const char* path) {
  std::ifstream f(path);
  std::size_t v = 0;
  if (f >> v) return v;
  return std::nullopt;
}

// A caller with CAP_SYS_RESOURCE in the queue namespace's user namespace is not bound by the
// /proc limits. Being root is not enough (a container's root usually is not), so ask the
// kernel once: try to make a queue whose message size exceeds msgsize_max.
bool privileged() {
  static const bool yes = [] {
    const auto size_max = read_limit(kMsgsizeMaxPath);
    if (!size_max) return false;
    const std::string name = "/" + unique_name("mqprobe");
    mq_attr attr{};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = long(*size_max) + 1;
    const mqd_t q = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
    if (q == mqd_t(-1)) return false;
    mq_close(q);
    mq_unlink(name.c_str());
    return true;
  }();
  return yes;
}

std::optional<std::size_t> max_msg_bytes() {
  if (privileged()) return kHardMsgsizeMax;
  return read_limit(kMsgsizeMaxPath);
}

class MqChannel final : public Channel {
 public:
  MqChannel(mqd_t out, mqd_t in, const ChannelConfig& cfg) : out_(out), in_(in), cfg_(cfg), buf_(cfg.msg_bytes) {}
  ~MqChannel() override {
    mq_close(out_);
    mq_close(in_);
  }
  Status send(Bytes msg) noexcept override {
    while (mq_send(out_, reinterpret_cast<const char*>(msg.data()), msg.size(), 0) != 0) {
      if (errno != EINTR) return Status::Sys("mq_send");
      if (cfg_.cancelled()) return Status::Cancelled("mq_send");
    }
    return Status::Ok();
  }
  Status recv(Bytes& out) noexcept override {
    for (;;) {
      const ssize_t n = mq_receive(in_, reinterpret_cast<char*>(buf_.data()), cfg_.msg_bytes, nullptr);
      if (n >= 0) return received(n, out);
      if (errno != EINTR) return Status::Sys("mq_receive");
      if (cfg_.cancelled()) return Status::Cancelled("mq_receive");
    }
  }
  // mq_timedreceive takes an absolute CLOCK_REALTIME time: the steady deadline's distance
  // from now, added to the realtime now (recomputed after every interruption).
  Status recv_until(Bytes& out, Deadline deadline) noexcept override {
    for (;;) {
      const auto left = std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count());
      timespec at{};
      clock_gettime(CLOCK_REALTIME, &at);
      const std::int64_t ns = std::int64_t(at.tv_nsec) + left % 1'000'000'000;
      at.tv_sec += time_t(left / 1'000'000'000 + ns / 1'000'000'000);
      at.tv_nsec = long(ns % 1'000'000'000);
      const ssize_t n = mq_timedreceive(in_, reinterpret_cast<char*>(buf_.data()), cfg_.msg_bytes, nullptr, &at);
      if (n >= 0) return received(n, out);
      if (errno == ETIMEDOUT) return Status::TimedOut("mq_timedreceive");
      if (errno != EINTR) return Status::Sys("mq_timedreceive");
      if (cfg_.cancelled()) return Status::Cancelled("mq_timedreceive");
    }
  }

 private:
  Status received(ssize_t n, Bytes& out) noexcept {
    if (std::size_t(n) != cfg_.msg_bytes) return Status::Corrupt("mq_receive: message of the wrong length");
    out = Bytes(buf_.data(), cfg_.msg_bytes);
    return Status::Ok();
  }

  mqd_t out_, in_;
  ChannelConfig cfg_;
  AlignedBuffer buf_;
};

std::string explain_open_failure(const ChannelConfig& cfg, long maxmsg, int err) {
  const std::string base = sys_error("mq_open", err);
  if (err == EINVAL) {
    const auto size_max = read_limit(kMsgsizeMaxPath);
    if (!privileged() && size_max && cfg.msg_bytes > *size_max)
      return "message size " + std::to_string(cfg.msg_bytes) + " exceeds " + kMsgsizeMaxPath + " = " +
             std::to_string(*size_max) + " (raise it with sysctl fs.mqueue.msgsize_max, or run with CAP_SYS_RESOURCE)";
  }
  if (err == EMFILE) {
    rlimit rl{};
    getrlimit(RLIMIT_MSGQUEUE, &rl);
    return "RLIMIT_MSGQUEUE (" + std::to_string(rl.rlim_cur) + " bytes) is below two queues of " +
           std::to_string(maxmsg) + " x " + std::to_string(cfg.msg_bytes) + " bytes (raise it with ulimit -q)";
  }
  if (err == ENOSYS) return "POSIX message queues are not available in this kernel";
  if (err == EEXIST) return "a message queue of that name already exists (made by another process); refusing to use it";
  return base;
}

class MqLink final : public Link {
 public:
  std::string to_peer, from_peer;
  ChannelConfig cfg;
  long maxmsg = 0;

  ~MqLink() override {
    for (const std::string* n : {&to_peer, &from_peer}) {
      if (!n->empty()) {
        mq_unlink(n->c_str());
        forget_object(NameSpace::kMq, *n);
      }
    }
  }
  PeerSpec peer_spec() const override { return {{"mq:" + to_peer, from_peer}, {}}; }
  Made<Channel> open_parent() override {
    const mqd_t out = mq_open(to_peer.c_str(), O_WRONLY | O_CLOEXEC);
    if (out == mqd_t(-1)) return Made<Channel>::Fail(sys_error("mq_open " + to_peer));
    const mqd_t in = mq_open(from_peer.c_str(), O_RDONLY | O_CLOEXEC);
    if (in == mqd_t(-1)) {
      const int err = errno;
      mq_close(out);
      return Made<Channel>::Fail(sys_error("mq_open " + from_peer, err));
    }
    return {std::make_unique<MqChannel>(out, in, cfg), {}};
  }
  // After create_queue, which lowers it to what msg_max allows.
  std::optional<std::size_t> window_msgs() const override { return std::size_t(maxmsg); }
};

// Creates one queue exclusively, mode 0600, with `slots` messages, or fewer (but at least
// `min_slots`) when the unprivileged msg_max is lower; 0, or the errno of the failure.
int create_queue(const std::string& name, std::size_t msg_bytes, long& slots, long min_slots) {
  for (;;) {
    mq_attr attr{};
    attr.mq_maxmsg = slots;
    attr.mq_msgsize = long(msg_bytes);
    const mqd_t q = mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600, &attr);
    if (q != mqd_t(-1)) {
      // On Linux a queue descriptor is a file descriptor: 0600 exactly, whatever the umask.
      const int err = fchmod(q, 0600) == 0 ? 0 : errno;
      mq_close(q);
      if (err != 0) mq_unlink(name.c_str());  // not yet recorded for cleanup
      return err;
    }
    const int err = errno;  // before read_limit's own calls can change it
    const auto msg_max = read_limit(kMsgMaxPath);
    if (err == EINVAL && msg_max && slots > long(*msg_max) && long(*msg_max) >= min_slots) {
      slots = long(*msg_max);
      continue;
    }
    return err;
  }
}

Made<Link> create(const ChannelConfig& cfg) {
  auto link = std::make_unique<MqLink>();
  link->cfg = cfg;
  link->maxmsg = long(std::clamp(std::min(cfg.depth, kLinkBytesBudget / cfg.msg_bytes), kMinLinkSlots, kStreamWindow));
  for (std::string* n : {&link->to_peer, &link->from_peer}) {
    const std::string name = "/" + unique_name("mq");
    if (const int err = create_queue(name, cfg.msg_bytes, link->maxmsg, long(kMinLinkSlots)))
      return Made<Link>::Fail(explain_open_failure(cfg, link->maxmsg, err));
    record_object(NameSpace::kMq, name);
    *n = name;
  }
  return {std::move(link), {}};
}

// Opens a queue our parent made: one of another user's cannot be it. "" or why not.
std::string open_own_queue(const std::string& name, int flags, mqd_t& q) {
  q = mq_open(name.c_str(), flags | O_CLOEXEC);
  if (q == mqd_t(-1)) return sys_error("mq_open " + name);
  struct stat st {};
  if (fstat(q, &st) == 0 && st.st_uid != geteuid()) {
    mq_close(q);
    q = mqd_t(-1);
    return "message queue " + name + " belongs to uid " + std::to_string(st.st_uid) + ", not this user; refusing to use it";
  }
  return "";
}

Made<Channel> attach(const PeerSpec& spec, const ChannelConfig& cfg, Link*) {
  if (spec.args.size() != 2 || spec.args[0].rfind("mq:", 0) != 0)
    return Made<Channel>::Fail("peer spec does not name the queues");
  const std::string to_peer = spec.args[0].substr(3);
  mqd_t in, out;
  if (std::string no = open_own_queue(to_peer, O_RDONLY, in); !no.empty()) return Made<Channel>::Fail(no);
  if (std::string no = open_own_queue(spec.args[1], O_WRONLY, out); !no.empty()) {
    mq_close(in);
    return Made<Channel>::Fail(no);
  }
  return {std::make_unique<MqChannel>(out, in, cfg), {}};
}

// ---- Many-to-many: one queue every party opens by name ----

// mq_timed* take an absolute CLOCK_REALTIME deadline.
timespec poll_deadline() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += long(std::chrono::nanoseconds(kCancelPoll).count());
  ts.tv_sec += ts.tv_nsec / 1'000'000'000;
  ts.tv_nsec %= 1'000'000'000;
  return ts;
}

class MqEnd final : public QueueEnd {
 public:
  MqEnd(mqd_t q, const QueueConfig& cfg) : q_(q), cfg_(cfg) {}
  ~MqEnd() override { mq_close(q_); }
  Status put(Bytes msg) noexcept override {
    for (;;) {
      const timespec ts = poll_deadline();
      if (mq_timedsend(q_, reinterpret_cast<const char*>(msg.data()), msg.size(), 0, &ts) == 0) return Status::Ok();
      if (errno != ETIMEDOUT && errno != EINTR) return Status::Sys("mq_timedsend");
      if (cfg_.cancelled()) return Status::Cancelled("mq_timedsend");
    }
  }
  Status get(std::span<std::byte> buf, std::size_t& got) noexcept override {
    for (;;) {
      const timespec ts = poll_deadline();
      const ssize_t n = mq_timedreceive(q_, reinterpret_cast<char*>(buf.data()), buf.size(), nullptr, &ts);
      if (n >= 0) {
        got = std::size_t(n);
        return Status::Ok();
      }
      if (errno != ETIMEDOUT && errno != EINTR) return Status::Sys("mq_timedreceive");
      if (cfg_.cancelled()) return Status::Cancelled("mq_timedreceive");
    }
  }

 private:
  mqd_t q_;
  QueueConfig cfg_;
};

class SharedMq final : public SharedQueue {
 public:
  std::string name;
  ~SharedMq() override {
    if (!name.empty()) {
      mq_unlink(name.c_str());
      forget_object(NameSpace::kMq, name);
    }
  }
  std::string address() const override { return name; }
};

Made<SharedQueue> create_shared(const QueueConfig& cfg) {
  auto q = std::make_unique<SharedMq>();
  const std::string name = "/" + unique_name("fanin-mq");
  long depth = long(cfg.depth);
  if (const int err = create_queue(name, cfg.msg_bytes, depth, 1))
    return Made<SharedQueue>::Fail(err == EEXIST ? "message queue " + name + " already exists (made by another process); refusing to use it"
                                                 : sys_error("mq_open " + name, err));
  record_object(NameSpace::kMq, name);
  q->name = name;
  return {std::move(q), {}};
}

Made<QueueEnd> open_shared(const std::string& address, const QueueConfig& cfg, SharedQueue*) {
  mqd_t q;
  if (std::string no = open_own_queue(address, O_RDWR, q); !no.empty()) return Made<QueueEnd>::Fail(no);
  return {std::make_unique<MqEnd>(q, cfg), {}};
}

}  // namespace

extern const TransportDef kPosixMqTransport{
    .name = "posix_mq",
    .kind = Kind::kQueue,
    .peers = kAllPeers,
    .max_msg_bytes = max_msg_bytes,
    .limit_note = "/proc/sys/fs/mqueue/msgsize_max binds callers without CAP_SYS_RESOURCE; raise it with sysctl "
                  "fs.mqueue.msgsize_max",
    .create = create,
    .attach = attach,
    .many_to_many = {.create = create_shared, .open = open_shared},
};

}  // namespace ipcm
