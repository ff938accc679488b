// A Channel over byte-stream descriptors (pipe, socketpair, FIFO, TCP). Messages have the
// link's fixed size, so framing is "read exactly msg_bytes".
// What a peer controls here is only the bytes on the stream, never a length: every read asks
// for at most the room left in the one message buffer, so a short write ends as end-of-file
// (kClosed) and a long one shifts the framing (the workload's sequence check says kCorrupt),
// and neither can overflow. No ipcmeter channel passes descriptors (no SCM_RIGHTS), so there is
// no descriptor count or control-message length to trust.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "harness/core/buffer.h"
#include "harness/transports/transport.h"

namespace ipcm {

class FdChannel final : public Channel {
 public:
  // Closes the descriptors on destruction only when `owns`: a thread peer borrows the
  // link's descriptors, a process peer owns its copies.
  FdChannel(int rfd, int wfd, const ChannelConfig& cfg, bool owns);
  ~FdChannel() override;
  Status send(Bytes msg) noexcept override;
  Status recv(Bytes& out) noexcept override;
  // ppoll() for the first byte until the deadline, then recv(): a message is written whole
  // (pipe writes up to PIPE_BUF are atomic; a larger one is already being written), so only
  // the wait for its start is bounded.
  Status recv_until(Bytes& out, Deadline deadline) noexcept override;

 private:
  int rfd_;
  int wfd_;
  bool owns_;
  ChannelConfig cfg_;
  AlignedBuffer buf_;
};

// "fd:R,W" for a PeerSpec, and back.
std::string fd_pair_arg(int rfd, int wfd);
bool parse_fd_pair_arg(const std::string& arg, int& rfd, int& wfd);

// Attach for descriptor-passing transports: the peer's descriptors are named in args[0].
Made<Channel> attach_fd_pair(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process);

void close_fd(int& fd) noexcept;

// A stream socket listening on `addr` (AF_UNIX or AF_INET), close-on-exec, with `type_flags`
// added to its type (SOCK_NONBLOCK, say); -1 with `err` ("socket: ...", "bind/listen: ...")
// on failure.
int listen_socket(const sockaddr* addr, socklen_t len, int type_flags, int backlog, std::string& err);

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (listen_socket), which
// `port` receives; -1 with `err` on failure.
int listen_loopback_tcp(int type_flags, int backlog, std::uint16_t& port, std::string& err);

// For a stream (cfg.depth > 1): sizes the pipe under fd to hold cfg.depth messages, as a ring
// or a queue does, where the kernel allows (it rounds up to a power of two pages and caps an
// unprivileged process at /proc/sys/fs/pipe-max-size). Returns the messages the pipe holds
// afterwards, nullopt if the kernel does not say. A round trip (depth 1) keeps the default.
std::optional<std::size_t> size_pipe_window(int fd, const ChannelConfig& cfg) noexcept;

// For a connected pair of local stream sockets both held here: asks for send buffers that
// hold cfg.depth messages (the kernel charges each message its bookkeeping too, so the ask
// includes a margin) and then counts how many messages of cfg.msg_bytes really fit from
// wfd before a non-blocking send would wait, draining them from rfd. nullopt if the count
// could not be made.
std::optional<std::size_t> size_socket_window(int wfd, int rfd, const ChannelConfig& cfg) noexcept;

}  // namespace ipcm
