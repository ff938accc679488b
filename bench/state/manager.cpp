#include "bench/state/manager.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>
#include <vector>

#include "harness/core/check.h"
#include "harness/core/names.h"

namespace ipcm {
namespace {

struct Request {
  MgrOp op;
  std::uint32_t pad;
  std::uint64_t key;
  std::int64_t value;
};
static_assert(sizeof(Request) == 24);

struct ManagerShared {
  char path[sizeof(sockaddr_un::sun_path)];
};

// Pending connections the listening socket holds: every worker connects before the start.
constexpr int kListenBacklog = kMaxParties;

bool read_full(int fd, void* p, std::size_t n) noexcept {
  auto* b = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = read(fd, b, n);
    if (r > 0) {
      b += r;
      n -= std::size_t(r);
    } else if (r == 0 || errno != EINTR) {
      return false;
    }
  }
  return true;
}

bool write_full(int fd, const void* p, std::size_t n) noexcept {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
    if (r > 0) {
      b += r;
      n -= std::size_t(r);
    } else if (r < 0 && errno != EINTR) {
      return false;
    }
  }
  return true;
}

bool make_address(const std::string& path, sockaddr_un& a) {
  std::memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return false;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

// The server's whole life: listen, say ready, serve until kShutdown.
int manager_party(PartyContext& ctx) {
  auto* ms = reinterpret_cast<ManagerShared*>(ctx.payload);
  // Taken once and only up to the field's end: the region is shared memory, and a path without
  // its terminator would be read past it.
  const std::string path(ms->path, strnlen(ms->path, sizeof ms->path));
  sockaddr_un addr;
  if (!make_address(path, addr)) return ctx.fail("socket path too long");
  const int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) return ctx.fail(sys_error("socket"));
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return ctx.fail(sys_error("bind " + path));
  if (listen(lfd, kListenBacklog) != 0) return ctx.fail(sys_error("listen"));
  if (!ctx.arrive_and_wait_start()) {
    unlink(path.c_str());
    return ctx.fail("cancelled before the start");
  }
  std::unordered_map<std::uint64_t, std::int64_t> map;
  std::vector<pollfd> fds = {{lfd, POLLIN, 0}};
  bool running = true;
  while (running) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return ctx.fail(sys_error("poll"));
    }
    for (std::size_t i = fds.size(); i-- > 1;) {
      if (fds[i].revents == 0) continue;
      Request rq;
      if (!(fds[i].revents & POLLIN) || !read_full(fds[i].fd, &rq, sizeof rq)) {
        close(fds[i].fd);  // the client went away
        fds.erase(fds.begin() + std::ptrdiff_t(i));
        continue;
      }
      std::int64_t reply = 0;
      switch (rq.op) {
        case MgrOp::kGet: {
          const auto it = map.find(rq.key);
          reply = it == map.end() ? 0 : it->second;
          break;
        }
        case MgrOp::kSet: map[rq.key] = rq.value; reply = rq.value; break;
        case MgrOp::kAdd: reply = (map[rq.key] += rq.value); break;
        case MgrOp::kShutdown: running = false; break;
      }
      if (!write_full(fds[i].fd, &reply, sizeof reply)) {
        close(fds[i].fd);
        fds.erase(fds.begin() + std::ptrdiff_t(i));
      }
    }
    if (fds[0].revents & POLLIN) {
      const int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) fds.push_back({c, POLLIN, 0});
    }
  }
  for (auto& p : fds) close(p.fd);
  unlink(ms->path);
  ctx.mark_finished();
  return kPeerOk;
}

std::string ManagerClient::connect_to(const std::string& path, int recv_timeout_s) {
  sockaddr_un addr;
  if (!make_address(path, addr)) return "socket path too long: " + path;
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return sys_error("socket");
  if (recv_timeout_s > 0) {
    timeval tv{recv_timeout_s, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  while (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINTR) return sys_error("connect " + path);
  }
  return "";
}

ManagerClient::~ManagerClient() {
  if (fd_ >= 0) close(fd_);
}

bool ManagerClient::call(MgrOp op, std::uint64_t key, std::int64_t value, std::int64_t& reply) noexcept {
  const Request rq{op, 0, key, value};
  if (!write_full(fd_, &rq, sizeof rq)) {
    error_ = "manager request: the server is gone";
    return false;
  }
  if (!read_full(fd_, &reply, sizeof reply)) {
    error_ = "manager reply: the server closed the connection or did not answer";
    return false;
  }
  return true;
}

Made<ManagerServer> ManagerServer::start(PeerKind kind) {
  // Callers pick a process kind for the server (run_state maps thread workers to a forked one).
  IPCM_CHECK(peer_refusal(kind, PeerUse::kServer).empty());
  std::unique_ptr<ManagerServer> s(new ManagerServer());
  s->path_ = private_dir() + "/" + unique_name("mgr").substr(kNamePrefix.size()) + ".sock";
  Made<ShmSegment> r = ShmSegment::create(kGroupPayloadOffset + sizeof(ManagerShared), "mgr");
  if (!r) return Made<ManagerServer>::Fail(r.error);
  s->region_ = std::move(r.value);
  auto* ms = new (s->region_->data() + kGroupPayloadOffset) ManagerShared();
  if (s->path_.size() >= sizeof ms->path) return Made<ManagerServer>::Fail("socket path too long: " + s->path_);
  std::memcpy(ms->path, s->path_.c_str(), s->path_.size() + 1);
  Made<PartyGroup> g = PartyGroup::start(kind, "manager", *s->region_, 1);
  if (!g) return Made<ManagerServer>::Fail("manager server: " + g.error);
  s->group_ = std::move(g.value);
  if (std::string e = s->group_->wait_ready(); !e.empty()) return Made<ManagerServer>::Fail("manager server: " + e);
  s->group_->open_gate();
  return {std::move(s), {}};
}

std::string ManagerServer::shutdown(ManagerClient& c) {
  std::int64_t ignored = 0;
  if (!c.call(MgrOp::kShutdown, 0, 0, ignored)) return c.error();
  const std::string e = group_->wait_done();
  return e.empty() ? "" : "manager server: " + e;
}

ManagerServer::~ManagerServer() {
  group_.reset();  // kills the server if it still runs
  unlink(path_.c_str());
}

}  // namespace ipcm
