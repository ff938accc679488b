#include "harness/launch/forkserver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
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
  if (s->pid_ < 0) return Made<ForkServer>::Fail(err);
  return {std::move(s), {}};
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
      if (read_full(ctl_, &status, sizeof status) != sizeof status) {
        why = "the fork server closed its socket";
        return Status::Closed("fork server");
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

// The server's side. The launcher has armed its death signal and checked its parent.
int forkserver_main(int argc, char** argv) {
  std::uint64_t ctl = 0, ready = 0;
  if (argc != 2 || !parse_u64(argv[0], ctl) || !parse_u64(argv[1], ready)) return kPeerUsage;
  for (;;) {
    char req = 0;
    const ssize_t n = read_full(int(ctl), &req, 1);
    if (n <= 0) return kPeerOk;  // the client is gone: the run is over
    int status = 0;
    // A bare fork, not the launcher's: this fork is what spawn/method:forkserver measures, and
    // its child lives for one byte, reaped right below.
    const pid_t pid = fork();
    if (pid == 0) {
      // The minimal worker: its first message, then gone.
      const ssize_t w = write(int(ready), &kReady, 1);
      _exit(w == 1 ? 0 : 1);
    }
    if (pid < 0) {
      status = -errno;
    } else {
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (write(int(ctl), &status, sizeof status) != sizeof status) return kPeerChannelFailed;
  }
}

IPCM_REGISTER_ROLE(kForkServerRole, forkserver_main);

}  // namespace

}  // namespace ipcm
