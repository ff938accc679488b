// RouDi, iceoryx's daemon, and this process's iceoryx runtime, for the iceoryx transport.
//
// RouDi is one per machine and its objects have fixed names (/dev/shm/iceoryx_mgmt,
// /dev/shm/<user>, the socket /tmp/roudi, the locks /tmp/roudi.lock and
// /tmp/iox-unique-roudi.lock). ipcmeter:
//  - starts one (through the launcher, with its own mempool config) when an iceoryx link is
//    made and none runs, records it in /dev/shm/ipcmeter-roudi (RouDi's pid and its own), waits
//    until RouDi says it is ready, and stops it (SIGTERM, SIGKILL after a grace) at the end of
//    the run; RouDi's objects are recorded like ipcmeter's own (names.h), so
//    SIGINT/SIGTERM/exit remove them too, and RouDi dies with ipcmeter (PR_SET_PDEATHSIG);
//  - after a SIGKILL of ipcmeter, sweeps those objects at the next start only when the recorded
//    RouDi is dead and no RouDi runs;
//  - never starts a second RouDi nor touches the objects of one it did not start: links go
//    through such a RouDi only with --iceoryx=use-running, else they are refused with the reason.
//
// The runtime: iceoryx's own PoshRuntime::initRuntime may be called once per process, and a
// forked child would inherit the parent's registration (its socket, its name). The runtime here
// is made through iceoryx's runtime factory instead, one per process id: a forked child makes
// its own (never touching what it inherited), and the parent's is destroyed (deregistered from
// RouDi) when its last link is gone, so that RouDi can be stopped with nobody registered.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ipcm {

// --iceoryx=... : what to do when a RouDi that ipcmeter did not start is running.
enum class IceoryxMode { kOwnRoudi, kUseRunning };
void set_iceoryx_mode(IceoryxMode m);
// "use-running" -> kUseRunning; nullopt for anything else.
std::optional<IceoryxMode> parse_iceoryx_mode(const std::string& s);

// The largest payload the mempools of ipcmeter's RouDi config carry.
std::size_t roudi_max_payload();

// Held by every iceoryx link in the parent: the first makes sure a RouDi runs (starting one,
// or adopting a running one when allowed), the last one's release destroys this process's
// runtime. The RouDi ipcmeter started serves the rest of the run (it takes from one to many
// seconds to start: its management segment alone is 66 MB) and is stopped at exit, by
// stop_own_roudi().

class RoudiLease {
 public:
  // An empty lease with `why` when no RouDi can be used.
  static RoudiLease acquire(std::string& why);
  RoudiLease() = default;
  RoudiLease(RoudiLease&& o) noexcept : held_(o.held_) { o.held_ = false; }
  RoudiLease& operator=(RoudiLease&& o) noexcept;
  ~RoudiLease();
  explicit operator bool() const noexcept { return held_; }

 private:
  bool held_ = false;
};

// Stops the RouDi this process started, if it runs: SIGTERM, SIGKILL after a grace, its objects
// removed if it could not remove them, its record removed. Registered with atexit when RouDi
// starts; SIGINT/SIGTERM kill it through the launcher's records instead.
void stop_own_roudi() noexcept;

// This process's runtime, made on first use with `name` (ignored once made). False with `why`
// when RouDi cannot be reached. The runtime lives until destroy_runtime().
bool ensure_runtime(const std::string& name, std::string& why);
void destroy_runtime() noexcept;

// An iceoryx link was cancelled: its peer died, stopped or went silent, possibly inside a
// publish, holding a port lock that iceoryx 2.0 does not make robust. RouDi then blocks on that
// lock when it next touches the port (or aborts when it cleans up after the dead process), and
// this process's deregistration would wait for RouDi's answer for ever (gdb, 2026-12-02). So when
// the last lease goes, a RouDi ipcmeter started is killed before the runtime is destroyed, and the
// next link starts a fresh one; a RouDi ipcmeter did not start is left alone and the runtime is
// abandoned instead of deregistered.
void distrust_roudi() noexcept;

// A fresh runtime name for a party of this process ("ipcmeter-<pid>-<random>-iox"), and the
// socket iceoryx makes for it, which the parent records and removes.
std::string runtime_name();
std::string runtime_socket(const std::string& name);

// RouDi's pid and who started it, for the results file (ipcmeter.iceoryx); null fields when no
// iceoryx link was made in this run.
nlohmann::json iceoryx_json();

// The RouDi running now that ipcmeter did not start, if any: its pid (0 when it runs but its pid
// cannot be read).
std::optional<pid_t> foreign_roudi();

// Removes what an ipcmeter-started RouDi left when ipcmeter was SIGKILLed: only when the RouDi
// recorded in /dev/shm/ipcmeter-roudi is dead and no RouDi runs now, and only objects owned by
// this user; also the runtime sockets of dead ipcmeter processes. One line per object removed.
std::vector<std::string> sweep_stale_roudi();

// The record of an ipcmeter-started RouDi and RouDi's fixed objects, for tests.
std::string roudi_record_path();
std::vector<std::string> roudi_object_paths();

}  // namespace ipcm
