#include "harness/fd_channel.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace ipcm {

FdChannel::FdChannel(int rfd, int wfd, const ChannelConfig& cfg, bool owns)
    : rfd_(rfd), wfd_(wfd), owns_(owns), cfg_(cfg), buf_(cfg.msg_bytes) {}

FdChannel::~FdChannel() {
  if (!owns_) return;
  close_fd(rfd_);
  if (wfd_ != rfd_) close_fd(wfd_);
}

Status FdChannel::send(Bytes msg) noexcept {
  const std::byte* p = msg.data();
  std::size_t left = msg.size();
  while (left > 0) {
    const ssize_t n = ::write(wfd_, p, left);
    if (n > 0) {
      p += n;
      left -= std::size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) {
      if (cfg_.cancelled()) return Status::Cancelled("write");
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
      return Status::Closed("write: the peer closed its end");
    return Status::Sys("write");
  }
  return Status::Ok();
}

Status FdChannel::recv(Bytes& out) noexcept {
  std::byte* p = buf_.data();
  std::size_t got = 0;
  while (got < cfg_.msg_bytes) {
    const ssize_t n = ::read(rfd_, p + got, cfg_.msg_bytes - got);
    if (n > 0) {
      got += std::size_t(n);
      continue;
    }
    if (n == 0) return Status::Closed("read: end of file, the peer closed its end");
    if (errno == EINTR) {
      if (cfg_.cancelled()) return Status::Cancelled("read");
      continue;
    }
    if (errno == ECONNRESET) return Status::Closed("read: the peer reset the connection");
    return Status::Sys("read");
  }
  out = Bytes(buf_.data(), cfg_.msg_bytes);
  return Status::Ok();
}

std::string fd_pair_arg(int rfd, int wfd) {
  return "fd:" + std::to_string(rfd) + "," + std::to_string(wfd);
}

bool parse_fd_pair_arg(const std::string& arg, int& rfd, int& wfd) {
  char tail = 0;
  return std::sscanf(arg.c_str(), "fd:%d,%d%c", &rfd, &wfd, &tail) == 2 && rfd >= 0 && wfd >= 0;
}

Made<Channel> attach_fd_pair(const PeerSpec& spec, const ChannelConfig& cfg, Link* same_process) {
  int r = -1, w = -1;
  if (spec.args.empty() || !parse_fd_pair_arg(spec.args[0], r, w))
    return Made<Channel>::Fail("peer spec does not name its descriptors");
  return {std::make_unique<FdChannel>(r, w, cfg, same_process == nullptr), {}};
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace ipcm
