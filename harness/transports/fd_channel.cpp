#include "harness/transports/fd_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

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

Status FdChannel::recv_until(Bytes& out, Deadline deadline) noexcept {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count();
    timespec ts{};
    if (left > 0) {
      ts.tv_sec = time_t(left / 1'000'000'000);
      ts.tv_nsec = long(left % 1'000'000'000);
    }
    pollfd p{rfd_, POLLIN, 0};
    const int n = ::ppoll(&p, 1, &ts, nullptr);
    // Readable, end of file or an error: recv() reads the message or says which.
    if (n > 0) return recv(out);
    if (n == 0) return Status::TimedOut("ppoll");
    if (errno != EINTR) return Status::Sys("ppoll");
    if (cfg_.cancelled()) return Status::Cancelled("ppoll");
  }
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

namespace {

// What a pipe may grow to without privilege; 1 MiB unless the administrator changed it.
std::size_t pipe_max_size() noexcept {
  std::size_t bytes = 1u << 20;
  if (FILE* f = std::fopen("/proc/sys/fs/pipe-max-size", "re")) {
    unsigned long v = 0;
    if (std::fscanf(f, "%lu", &v) == 1 && v > 0) bytes = v;
    std::fclose(f);
  }
  return bytes;
}

// Each message a local stream socket holds is charged its buffer bookkeeping too (~0.5-1 KiB
// per message on current kernels); asked per message on top of its bytes.
constexpr std::size_t kSocketChargePerMsg = 1024;

// Puts messages into wfd without waiting until the socket refuses one, then reads them all
// back from rfd: how many whole messages the buffer really held.
std::optional<std::size_t> count_socket_window(int wfd, int rfd, std::size_t msg_bytes) noexcept {
  std::vector<std::byte> msg;
  try {
    msg.resize(msg_bytes);
  } catch (...) {
    return std::nullopt;
  }
  std::size_t whole = 0, queued = 0;
  constexpr std::size_t kCountLimit = 1u << 16;
  while (whole < kCountLimit) {
    const ssize_t n = ::send(wfd, msg.data(), msg_bytes, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    queued += std::size_t(n);
    if (std::size_t(n) < msg_bytes) break;
    ++whole;
  }
  while (queued > 0) {
    const ssize_t n = ::recv(rfd, msg.data(), std::min(queued, msg_bytes), MSG_DONTWAIT);
    if (n <= 0) return std::nullopt;  // bytes were queued, so they must be readable now
    queued -= std::size_t(n);
  }
  return whole;
}

}  // namespace

std::optional<std::size_t> size_pipe_window(int fd, const ChannelConfig& cfg) noexcept {
  if (cfg.depth > 1 && cfg.msg_bytes > 0) {
    const std::size_t want = cfg.depth * cfg.msg_bytes;
    if (fcntl(fd, F_SETPIPE_SZ, int(std::min(want, std::size_t(INT32_MAX)))) < 0)
      (void)fcntl(fd, F_SETPIPE_SZ, int(std::min(pipe_max_size(), std::size_t(INT32_MAX))));
  }
  const int bytes = fcntl(fd, F_GETPIPE_SZ);
  if (bytes <= 0 || cfg.msg_bytes == 0) return std::nullopt;
  return std::max<std::size_t>(1, std::size_t(bytes) / cfg.msg_bytes);
}

std::optional<std::size_t> size_socket_window(int wfd, int rfd, const ChannelConfig& cfg) noexcept {
  if (cfg.depth > 1) {
    // The kernel doubles what is asked; SO_SNDBUFFORCE passes the administrator's cap when
    // privileged, SO_SNDBUF is capped by net.core.wmem_max otherwise.
    const std::size_t ask = std::min<std::size_t>(cfg.depth * (cfg.msg_bytes + kSocketChargePerMsg) / 2, INT32_MAX);
    const int v = int(ask);
    for (int fd : {wfd, rfd}) {
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    }
  }
  if (cfg.msg_bytes == 0) return std::nullopt;
  return count_socket_window(wfd, rfd, cfg.msg_bytes);
}

int listen_socket(const sockaddr* addr, socklen_t len, int type_flags, int backlog, std::string& err) {
  const int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
  if (fd < 0) {
    err = sys_error("socket");
    return -1;
  }
  if (bind(fd, addr, len) != 0 || listen(fd, backlog) != 0) {
    err = sys_error("bind/listen");
    close(fd);
    return -1;
  }
  return fd;
}

int listen_loopback_tcp(int type_flags, int backlog, std::uint16_t& port, std::string& err) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // the kernel picks a free port
  int fd = listen_socket(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, type_flags, backlog, err);
  if (fd < 0) return -1;
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    err = sys_error("getsockname");
    close_fd(fd);
    return -1;
  }
  port = ntohs(addr.sin_port);
  return fd;
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace ipcm
