// What the ZeroMQ transports (zmq_ipc, zmq_tcp, zmq_inproc) share: a PAIR socket configured
// from the ChannelConfig, and the Channel over it. libzmq through cppzmq for ownership (a
// context_t and socket_t close on every path); the hot path calls libzmq's C functions on
// their handles, because cppzmq's send/recv throw on EINTR, which a noexcept call cannot pass.
//
// Contexts and fork: a ZeroMQ context must not be used in a forked child, and its threads must
// not exist when the peer forks. A forked child has only the forking thread; a lock another
// thread held at the fork stays held in it for ever. glibc's malloc takes its locks around a
// fork, but not every allocator does: under GCC 12's AddressSanitizer, one fork peer in eight
// hung in its first allocation, on an allocator lock the parent's ZeroMQ I/O thread held while
// it set up the listener bind() had just handed it (CI of 9461783; gdb on the child). So a
// link's create() makes only a kernel listening socket (listen_socket, non-blocking), which the peer can
// connect to at once; the parent's context, whose first socket starts its threads, is made in
// open_parent(), after the peer exists, and its socket takes that listening socket over
// (bind_listening, ZMQ_USE_FD). A peer makes its own context in attach() and ends with _exit.
#pragma once

#include <sys/socket.h>
#include <zmq.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "harness/transports/transport.h"

namespace ipcm {

// Messages a library queue of this link holds per direction: cfg.depth, within the memory
// budget other buffered links keep (kLinkBytesBudget), kMinLinkSlots..kStreamWindow. (nng_ipc
// uses it too.)
std::size_t link_queue_msgs(const ChannelConfig& cfg);

// A PAIR socket in `ctx` set for a link of `cfg`: no linger (closing never waits for a peer
// that is gone), high-water marks of link_queue_msgs(cfg) each way when the link holds more
// than one message (ZeroMQ's defaults for one: zmq_common.cpp says why), a receive cap of
// cfg.msg_bytes or 512 bytes for handshakes (a larger message from anyone drops the
// connection, never allocated), and
// send/receive timeouts of kCancelPoll so blocking calls look at the cancel flag between waits.
// Throws zmq::error_t, like cppzmq, on failure (set-up only).
zmq::socket_t make_pair_socket(zmq::context_t& ctx, const ChannelConfig& cfg);

// A peer's channel in a process or thread of its own: a context of its own (a forked peer must
// never use the parent's), a PAIR socket as make_pair_socket makes it, `before_connect` (the
// credentials a transport needs, or nothing), connected to `endpoint`.
Made<Channel> connect_peer_channel(const std::string& endpoint, const ChannelConfig& cfg,
                                   const std::function<void(zmq::socket_t&)>& before_connect = {});

// ZeroMQ's own backlog for a bound socket (ZMQ_BACKLOG's default), for the kernel socket a
// link listens on (listen_socket, fd_channel.h) until bind_listening hands it to ZeroMQ.
inline constexpr int kZmqBacklog = 100;

// Binds `s` to `endpoint` over the listening socket `fd` (ZMQ_USE_FD): ZeroMQ accepts the
// connections already waiting on it and closes it with the socket; `fd` becomes -1 once
// ZeroMQ owns it. Throws zmq::error_t, like cppzmq.
void bind_listening(zmq::socket_t& s, int& fd, const std::string& endpoint);

// "what: zmq_strerror(errno)" for set-up errors.
std::string zmq_error(const std::string& what, const zmq::error_t& e);

// ---- fanin: the many-to-many form ----
// ZeroMQ's recipe for one queue that many put to and many get from is a forwarding device (its
// "streamer"): producers send to the device's input, the device's PUSH socket hands each
// message to one consumer's PULL (round-robin among those with room). Each producer's messages
// stay in order through it. The device is a thread of the parent, started by start_serving()
// once the parties exist, so no ZeroMQ thread runs in the parent when a party forks; until then
// the two kernel listening sockets hold the parties' connections in their backlogs.
//
// The input is a ROUTER and each producer's socket a DEALER (not PUSH to PULL), so the device
// can answer one producer: a producer's finish() sends an empty message after its last and
// waits for the device's empty reply, which comes once the device has taken every message
// before it. ZeroMQ's linger alone lost a closing producer's last messages: 1 run in 60-400 of
// ManyToMany.ThreadProducersDeliverIntactInOrder/zmq_ipc waited for ever (2026-12-05; every
// producer closed, the device's input empty), as upstream reports for libzmq 4.3
// (zeromq/libzmq#1922, #3774, #4660).
//
// The queue's address is a base endpoint: the device binds `base + kDeviceIn` (producers
// connect) and `base + kDeviceOut` (consumers connect), over the listening sockets `in_fd` and
// `out_fd`, which the queue owns from here on. `on_destroy` runs last (removes socket files).
inline constexpr std::string_view kDeviceIn = "-in", kDeviceOut = "-out";
Made<SharedQueue> make_device_queue(const std::string& base, int in_fd, int out_fd, const QueueConfig& cfg,
                                    std::function<void()> on_destroy);
// A party's end: a context of its own, a DEALER socket connected to the device's input (made at
// once) and a PULL socket connected to its output (made by the first get: a party that never
// gets must not be offered messages).
Made<QueueEnd> open_device_end(const std::string& base, const QueueConfig& cfg);

class ZmqChannel final : public Channel {
 public:
  // `sock` is used, not owned; `owned_sock` and `owned_ctx`, when given, live and die with the
  // channel (socket first, then context). A parent borrows the link's socket; a peer owns its
  // own (and, in another process, its own context).
  ZmqChannel(void* sock, const ChannelConfig& cfg, std::unique_ptr<zmq::context_t> owned_ctx = nullptr,
             std::optional<zmq::socket_t> owned_sock = std::nullopt);
  ~ZmqChannel() override;
  Status send(Bytes msg) noexcept override;
  // Zero-copy: `out` views the zmq_msg_t the message arrived in, kept until the next recv.
  Status recv(Bytes& out) noexcept override;
  Status recv_until(Bytes& out, Deadline deadline) noexcept override;

 private:
  Status take(Bytes& out) noexcept;     // checks the message just received
  Status failed(const char* what) noexcept;  // errno after a failed call, as a Status

  // Declared in this order so that the socket closes before its context terminates.
  std::unique_ptr<zmq::context_t> owned_ctx_;
  std::optional<zmq::socket_t> owned_sock_;
  void* sock_;
  ChannelConfig cfg_;
  zmq_msg_t msg_;
};

}  // namespace ipcm
