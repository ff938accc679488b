// A fork server, as Python's forkserver start method has: a process started once with
// posix_spawn (so starting it is safe whatever threads the suite has by then), which stays
// single-threaded and small, and forks a child whenever asked over a socket. Its children
// are cheap to fork whatever the size of the process that asks, and never inherit a lock.
//
// Protocol: the client writes one request byte on the control socket; the server forks a
// child that writes one byte on the ready pipe (the client holds its read end) and exits;
// the server reaps it and answers with the child's wait status (an int; negative: -errno of
// a failed fork). End-of-file on the control socket ends the server.
//
// The control socket is one end of a socketpair: no name in any namespace, so no other
// process, of this user or another, can connect to it. Each side still checks what it reads
// (a confused or hostile holder of the other end must end the exchange with an error, never
// a hang or a fork on garbage): the server takes only the request byte, refuses descriptors
// passed with it (SCM_RIGHTS) and checks its own argv's descriptors are a socket and a pipe;
// the client bounds every read by the peer timeout and takes only a well-formed status.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "harness/core/status.h"

namespace ipcm {

class ForkServer {
 public:
  static Made<ForkServer> start();
  // Closes the control socket, waits for the server to exit, reaps it.
  ~ForkServer();
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // One child through the server: returns after its ready byte arrived (ready_tick is the
  // tick clock then) and the server reported it reaped with status 0.
  Status start_child(std::uint64_t& ready_tick, std::string& why) noexcept;
  pid_t pid() const noexcept { return pid_; }
  // A client over descriptors the caller made (it owns them from now on), with no server
  // process of its own: the tests put a misbehaving server at the other end.
  static std::unique_ptr<ForkServer> over_descriptors(int ctl, int ready);

 private:
  ForkServer() = default;
  pid_t pid_ = -1;
  int ctl_ = -1;
  int ready_ = -1;
};

// The run's fork server, started on first use and shut down when the process exits
// (static destruction); nullptr with `why` if it cannot start.
ForkServer* shared_forkserver(std::string& why);
// Shuts the run's fork server down now (tests; the next shared_forkserver starts a new one).
void stop_shared_forkserver();

// The launcher role of the server's side. Arguments: control fd, ready fd.
inline constexpr const char* kForkServerRole = "forkserver";

}  // namespace ipcm
