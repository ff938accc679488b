// A Channel over byte-stream descriptors (pipe, socketpair, FIFO, TCP). Messages have the
// link's fixed size, so framing is "read exactly msg_bytes".
#pragma once

#include "harness/buffer.h"
#include "harness/transport.h"

namespace ipcm {

class FdChannel final : public Channel {
 public:
  // Closes the descriptors on destruction only when `owns`: a thread peer borrows the
  // link's descriptors, a process peer owns its copies.
  FdChannel(int rfd, int wfd, const ChannelConfig& cfg, bool owns);
  ~FdChannel() override;
  Status send(Bytes msg) noexcept override;
  Status recv(Bytes& out) noexcept override;

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

}  // namespace ipcm
