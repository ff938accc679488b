#include "bench/spawn/spawn.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "harness/core/clock.h"
#include "harness/launch/exec_helper.h"
#include "harness/launch/forkserver.h"
#include "harness/core/names.h"
#include "harness/launch/launcher.h"
#include "harness/launch/workers.h"

// The one place outside harness/launch/launcher.cpp that calls fork, vfork and posix_spawn itself:
// these calls are what the spawn family measures, each mechanism bare, so they cannot go
// through the launcher (which adds its hygiene, and picks one mechanism per peer kind). The
// children they start live for one ready byte and are reaped at once (finish_process).

extern char** environ;

namespace ipcm {
namespace {

constexpr char kReadyByte = IPCM_READY_BYTE;

bool read_ready(int fd) noexcept {
  char c = 0;
  ssize_t n;
  do n = read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 && c == kReadyByte;
}

void* hello_thread(void* arg) {
  const int fd = int(reinterpret_cast<std::intptr_t>(arg));
  const ssize_t n = write(fd, &kReadyByte, 1);
  return reinterpret_cast<void*>(std::intptr_t(n == 1));
}

std::uint64_t ns_since(std::uint64_t t0, std::uint64_t t1) noexcept { return TickClock::get().to_ns_fast(t1 - t0); }

}  // namespace

bool start_method_forks_caller(StartMethod m) {
  return m == StartMethod::kFork || m == StartMethod::kForkExec || m == StartMethod::kForkExecSelf;
}

ExecTarget exec_target(StartMethod m) {
  switch (m) {
    case StartMethod::kVfork:
    case StartMethod::kPosixSpawn:
    case StartMethod::kForkExec: return ExecTarget::kHelper;
    case StartMethod::kVforkSelf:
    case StartMethod::kPosixSpawnSelf:
    case StartMethod::kForkExecSelf: return ExecTarget::kSelf;
    default: return ExecTarget::kNone;
  }
}

std::string exec_helper_path(const std::string& dir) { return dir + "/" + IPCM_EXEC_HELPER_NAME; }

std::string exec_helper_path() {
  const std::string& me = self_exe();
  return exec_helper_path(me.substr(0, me.rfind('/')));
}

std::string exec_helper_refusal(const std::string& path) {
  if (access(path.c_str(), X_OK) == 0) return "";
  return "the exec helper " + path + " cannot be run (" + std::strerror(errno) +
         "): it is built beside ipcmeter by `cmake --build build` (target ipcmeter_exec_helper); "
         "the *_self methods exec ipcmeter itself instead";
}

Made<Starter> Starter::make(std::string_view method_name) {
  const auto m = parse_start_method(method_name);
  if (!m) return Made<Starter>::Fail("unknown start method '" + std::string(method_name) + "'");
  return make(*m);
}

Made<Starter> Starter::make(StartMethod m) {
  return make(m, exec_target(m) == ExecTarget::kHelper ? exec_helper_path() : std::string());
}

Made<Starter> Starter::make(StartMethod m, const std::string& helper) {
  if (start_method_forks_caller(m)) {
    if (std::string no = fork_unsafe_reason(); !no.empty()) return Made<Starter>::Fail(no);
  }
  const ExecTarget target = exec_target(m);
  if (target == ExecTarget::kHelper) {
    if (std::string no = exec_helper_refusal(helper); !no.empty()) return Made<Starter>::Fail(no);
  }
  std::unique_ptr<Starter> s(new Starter());
  s->m_ = m;
  if (m == StartMethod::kForkserver) {
    std::string why;
    if (!shared_forkserver(why)) return Made<Starter>::Fail("the fork server did not start: " + why);
    return {std::move(s), {}};
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Made<Starter>::Fail(sys_error("pipe2"));
  s->ready_r_ = p[0];
  s->ready_w_ = p[1];
  const std::string fd = std::to_string(s->ready_w_);
  if (target == ExecTarget::kHelper) s->argv_ = {helper, fd};
  if (target == ExecTarget::kSelf) s->argv_ = role_argv(kHelloRole, {fd});
  if (target != ExecTarget::kNone) {
    for (auto& a : s->argv_) s->cargv_.push_back(a.data());
    s->cargv_.push_back(nullptr);
  }
  if (m == StartMethod::kPosixSpawn || m == StartMethod::kPosixSpawnSelf) {
    posix_spawn_file_actions_init(&s->fa_);
    posix_spawn_file_actions_adddup2(&s->fa_, s->ready_w_, s->ready_w_);
    posix_spawnattr_init(&s->attr_);
    sigset_t def_sigs, none;
    sigemptyset(&def_sigs);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE}) sigaddset(&def_sigs, sig);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&s->attr_, &def_sigs);
    posix_spawnattr_setsigmask(&s->attr_, &none);
    posix_spawnattr_setflags(&s->attr_, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    s->spawn_ready_ = true;
  }
  return {std::move(s), {}};
}

Starter::~Starter() {
  if (spawn_ready_) {
    posix_spawn_file_actions_destroy(&fa_);
    posix_spawnattr_destroy(&attr_);
  }
  if (ready_r_ >= 0) close(ready_r_);
  if (ready_w_ >= 0) close(ready_w_);
}

Status Starter::finish_process(pid_t pid, std::uint64_t t0, StartSample& out, std::string& why) noexcept {
  record_child(pid);
  const bool ok = read_ready(ready_r_);
  const std::uint64_t t_ready = TickClock::now();
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::uint64_t t_end = TickClock::now();
  forget_child(pid);
  if (!ok || status != 0) {
    why = std::string(start_method_name(m_)) + " child " + (ok ? "" : "sent no ready byte and ") +
          "ended with wait status " + std::to_string(status);
    return Status::Closed("start");
  }
  out.ready_ns = ns_since(t0, t_ready);
  out.lifecycle_ns = ns_since(t0, t_end);
  return Status::Ok();
}

Status Starter::start_once(StartSample& out, std::string& why) noexcept {
  const std::uint64_t t0 = TickClock::now();
  switch (m_) {
    case StartMethod::kThread: {
      pthread_t t;
      if (int rc = pthread_create(&t, nullptr, hello_thread, reinterpret_cast<void*>(std::intptr_t(ready_w_))); rc != 0) {
        why = "pthread_create: " + std::string(std::strerror(rc));
        return Status::Sys("pthread_create", rc);
      }
      const bool ok = read_ready(ready_r_);
      const std::uint64_t t_ready = TickClock::now();
      void* ret = nullptr;
      pthread_join(t, &ret);
      const std::uint64_t t_end = TickClock::now();
      if (!ok || ret == nullptr) {
        why = "the thread sent no ready byte";
        return Status::Closed("thread");
      }
      out.ready_ns = ns_since(t0, t_ready);
      out.lifecycle_ns = ns_since(t0, t_end);
      return Status::Ok();
    }
    case StartMethod::kFork: {
      const pid_t pid = fork();
      if (pid == 0) _exit(write(ready_w_, &kReadyByte, 1) == 1 ? 0 : 1);
      if (pid < 0) {
        why = "fork: " + std::string(std::strerror(errno));
        return Status::Sys("fork");
      }
      return finish_process(pid, t0, out, why);
    }
    case StartMethod::kVfork:
    case StartMethod::kVforkSelf:
    case StartMethod::kForkExec:
    case StartMethod::kForkExecSelf: {
      char* const* argv = cargv_.data();
      const int fd = ready_w_;
      const bool use_vfork = m_ == StartMethod::kVfork || m_ == StartMethod::kVforkSelf;
      const pid_t pid = use_vfork ? vfork() : fork();
      if (pid == 0) {
        // Only the descriptor table is the child's own after vfork: clearing close-on-exec
        // here leaves the parent's flag alone.
        fcntl(fd, F_SETFD, 0);
        execve(argv[0], argv, environ);
        _exit(127);
      }
      if (pid < 0) {
        why = std::string(start_method_name(m_)) + ": " + std::strerror(errno);
        return Status::Sys("fork");
      }
      return finish_process(pid, t0, out, why);
    }
    case StartMethod::kPosixSpawn:
    case StartMethod::kPosixSpawnSelf: {
      pid_t pid = -1;
      if (int rc = posix_spawn(&pid, cargv_[0], &fa_, &attr_, cargv_.data(), environ); rc != 0) {
        why = "posix_spawn: " + std::string(std::strerror(rc));
        return Status::Sys("posix_spawn", rc);
      }
      return finish_process(pid, t0, out, why);
    }
    case StartMethod::kForkserver: {
      std::string w;
      ForkServer* fs = shared_forkserver(w);
      if (!fs) {
        why = w;
        return Status::Closed("fork server");
      }
      std::uint64_t t_ready = 0;
      if (Status st = fs->start_child(t_ready, why); !st) return st;
      const std::uint64_t t_end = TickClock::now();
      out.ready_ns = ns_since(t0, t_ready);
      out.lifecycle_ns = ns_since(t0, t_end);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

namespace {

int hello_main(int argc, char** argv) {
  std::uint64_t fd = 0;
  if (argc != 1 || !parse_u64(argv[0], fd)) return kPeerUsage;
  return write(int(fd), &kReadyByte, 1) == 1 ? kPeerOk : kPeerChannelFailed;
}

IPCM_REGISTER_ROLE(kHelloRole, hello_main);

}  // namespace

}  // namespace ipcm
