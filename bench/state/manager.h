// A Manager-style server process, as multiprocessing.Manager: one process owns a key-value map
// and workers reach it over a local (Unix stream) socket, one request and one reply per call,
// as a proxy's method call does. The server is single-threaded and serves every connection
// from one poll loop (Python's manager runs a thread per connection; one CPU's worth of
// service either way on a small machine).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "harness/launch/party.h"

namespace ipcm {

enum class MgrOp : std::uint32_t { kGet = 1, kSet = 2, kAdd = 3, kShutdown = 4 };

// One connection to the server. Calls are blocking round trips; on failure they return false
// and the reason is in error().
class ManagerClient {
 public:
  // Connects; "" or why not. `recv_timeout_s` > 0 bounds every reply wait (the parent's
  // connection uses it so a stuck server cannot hang the run).
  std::string connect_to(const std::string& path, int recv_timeout_s = 0);
  ~ManagerClient();
  bool call(MgrOp op, std::uint64_t key, std::int64_t value, std::int64_t& reply) noexcept;
  const char* error() const noexcept { return error_; }

 private:
  int fd_ = -1;
  const char* error_ = "";
};

// The server process and its socket. Start it as a party of its own (fork or spawn; threads
// would not be a server process), then connect workers to path().
class ManagerServer {
 public:
  static Made<ManagerServer> start(PeerKind kind);
  ~ManagerServer();
  const std::string& path() const noexcept { return path_; }
  // Asks the server to end and reaps it; "" or why it failed.
  std::string shutdown(ManagerClient& c);

 private:
  ManagerServer() = default;
  std::string path_;
  std::unique_ptr<ShmSegment> region_;
  std::unique_ptr<PartyGroup> group_;
};

}  // namespace ipcm
