#include "harness/launch/forkserver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "harness/core/clock.h"
#include "harness/core/limits.h"
#include "harness/core/names.h"
#include "harness/launch/launcher.h"
#include "harness/launch/workers.h"

namespace ipcm {
namespace {

constexpr char kRequest = 'f';
constexpr char kReady = 'r';

// Bounds every read of the client's on the control socket: a server that answers half a
// status, or nothing, ends start_child with an error instead of a hang.
void bound_reads(int fd) noexcept {
  timeval tv{static_cast<time_t>(peer_timeout().count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// What the server answers: 0, a wait status, or -errno of a failed fork. Anything else is not
// something the server can have meant.
bool well_formed_status(int status) noexcept {
  if (status < 0) return status >= -4095;
  if (WIFEXITED(status)) return (status & ~0xff00) == 0;
  return WIFSIGNALED(status) && (status & ~0xff) == 0;
}

ssize_t read_full(int fd, void* buf, std::size_t n) noexcept {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = read(fd, static_cast<char*>(buf) + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r;
    got += std::size_t(r);
  }
  return ssize_t(got);
}

}  // namespace

Made<ForkServer> ForkServer::start() {
  std::unique_ptr<ForkServer> s(new ForkServer());
  int sv[2], rp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return Made<ForkServer>::Fail(sys_error("socketpair"));
  if (pipe2(rp, O_CLOEXEC) != 0) {
    const std::string e = sys_error("pipe2");
    close(sv[0]);
    close(sv[1]);
    return Made<ForkServer>::Fail(e);
  }
  std::string err;
  LaunchSpec spec;
  spec.role = kForkServerRole;
  spec.args = {std::to_string(sv[1]), std::to_string(rp[1])};
  spec.inherit = {sv[1], rp[1]};
  // Spawned, whatever the run's peer kinds: the server must start small and single-threaded.
  s->pid_ = launch(PeerKind::kSpawn, std::move(spec), err).pid;
  close(sv[1]);
  close(rp[1]);
  s->ctl_ = sv[0];
  s->ready_ = rp[0];
  bound_reads(s->ctl_);
  if (s->pid_ < 0) return Made<ForkServer>::Fail(err);
  return {std::move(s), {}};
}

std::unique_ptr<ForkServer> ForkServer::over_descriptors(int ctl, int ready) {
  std::unique_ptr<ForkServer> s(new ForkServer());
  s->ctl_ = ctl;
  s->ready_ = ready;
  bound_reads(s->ctl_);
  return s;
}

ForkServer::~ForkServer() {
  if (ctl_ >= 0) close(ctl_);
  if (ready_ >= 0) close(ready_);
  if (pid_ > 0) {
    std::vector<pid_t> p{pid_};
    std::string why;
    reap_children(p, std::chrono::duration_cast<std::chrono::milliseconds>(kPeerTimeout), why);
  }
}

Status ForkServer::start_child(std::uint64_t& ready_tick, std::string& why) noexcept {
  if (write(ctl_, &kRequest, 1) != 1) {
    why = "the fork server is gone: " + std::string(std::strerror(errno));
    return Status::Sys("write to fork server");
  }
  bool ready = false, answered = false;
  int status = 0;
  const int limit_ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(kPeerTimeout).count());
  while (!ready || !answered) {
    pollfd p[2] = {{ready_, POLLIN, 0}, {ctl_, POLLIN, 0}};
    const int n = poll(p, 2, limit_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = "the fork server did not answer within " + std::to_string(kPeerTimeout.count()) + " s";
      return Status::Cancelled("fork server");
    }
    if (!ready && (p[0].revents & POLLIN)) {
      char c = 0;
      if (read_full(ready_, &c, 1) != 1 || c != kReady) {
        why = "the fork server's child sent no ready byte";
        return Status::Closed("forkserver child");
      }
      ready_tick = TickClock::now();
      ready = true;
    }
    if (!answered && (p[1].revents & (POLLIN | POLLHUP))) {
      const ssize_t got = read_full(ctl_, &status, sizeof status);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        why = "the fork server sent part of an answer and then nothing for " + std::to_string(peer_timeout().count()) + " s";
        return Status::Cancelled("fork server");
      }
      if (got != sizeof status) {
        why = "the fork server closed its socket";
        return Status::Closed("fork server");
      }
      if (!well_formed_status(status)) {
        char hex[16];
        std::snprintf(hex, sizeof hex, "%#x", unsigned(status));
        why = std::string("the fork server answered ") + hex + ", which is not a wait status or -errno";
        return Status::Corrupt("fork server");
      }
      answered = true;
      if (status < 0) {
        why = "the fork server could not fork: " + std::string(std::strerror(-status));
        return Status::Sys("fork in fork server", -status);
      }
      if (status != 0) {
        why = "the fork server's child ended with wait status " + std::to_string(status);
        return Status::Closed("forkserver child");
      }
    }
  }
  return Status::Ok();
}

namespace {
std::unique_ptr<ForkServer>& the_server() {
  static std::unique_ptr<ForkServer> server;
  return server;
}
}  // namespace

void stop_shared_forkserver() { the_server().reset(); }

ForkServer* shared_forkserver(std::string& why) {
  std::unique_ptr<ForkServer>& server = the_server();
  if (!server) {
    Made<ForkServer> m = ForkServer::start();
    if (!m) {
      why = m.error;
      return nullptr;
    }
    server = std::move(m.value);
  }
  return server.get();
}

namespace {

[[nodiscard]] int server_fails(int code, const char* why, long detail = -1) {
  if (detail >= 0) std::fprintf(stderr, "ipcmeter forkserver: %s (%#lx)\n", why, detail);
  else std::fprintf(stderr, "ipcmeter forkserver: %s\n", why);
  std::fflush(stderr);
  return code;
}

// A descriptor from argv that is open and of the wanted type, or -1.
int checked_fd(const char* arg, bool want_socket) {
  std::uint64_t v = 0;
  if (!parse_u64(arg, v) || v > std::uint64_t(INT32_MAX)) return -1;
  struct stat st;
  if (fstat(int(v), &st) != 0) return -1;
  return (want_socket ? S_ISSOCK(st.st_mode) : S_ISFIFO(st.st_mode)) ? int(v) : -1;
}

// One request: the request byte and no descriptors. 1 for a request, 0 at end-of-file, or a
// PeerExit code (negated) after saying what was wrong.
int read_request(int ctl) {
  char req = 0;
  iovec iov{&req, 1};
  // Room for a few descriptors, so that any that arrive are received and can be closed.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;  // the client is gone (or the socket failed): the run is over
  bool passed_fds = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    passed_fds = true;
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        close(fd);
      }
    }
  }
  if (passed_fds) return -server_fails(kPeerMessageBad, "a request came with descriptors or other control data; refusing it");
  if (req != kRequest)
    return -server_fails(kPeerMessageBad, "a request byte that is not the fork request; ending", long((unsigned char)req));
  return 1;
}

// The server's side. The launcher has armed its death signal and checked its parent.
int forkserver_main(int argc, char** argv) {
  if (argc != 2) return server_fails(kPeerUsage, "usage: forkserver CONTROL_FD READY_FD");
  const int ctl = checked_fd(argv[0], true), ready = checked_fd(argv[1], false);
  if (ctl < 0) return server_fails(kPeerUsage, "the control descriptor is not an open socket");
  if (ready < 0) return server_fails(kPeerUsage, "the ready descriptor is not an open pipe");
  for (;;) {
    const int r = read_request(ctl);
    if (r == 0) return kPeerOk;
    if (r < 0) return -r;
    int status = 0;
    // A bare fork, not the launcher's: this fork is what spawn/method:forkserver measures, and
    // its child lives for one byte, reaped right below.
    const pid_t pid = fork();
    if (pid == 0) {
      // The minimal worker: its first message, then gone.
      const ssize_t w = write(ready, &kReady, 1);
      _exit(w == 1 ? 0 : 1);
    }
    if (pid < 0) {
      status = -errno;
    } else {
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (write(ctl, &status, sizeof status) != sizeof status) return kPeerChannelFailed;
  }
}

IPCM_REGISTER_ROLE(kForkServerRole, forkserver_main);

}  // namespace

}  // namespace ipcm
