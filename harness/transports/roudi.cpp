#include "harness/transports/roudi.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "iceoryx_hoofs/internal/relocatable_pointer/base_relative_pointer.hpp"
#include "iceoryx_posh/internal/runtime/posh_runtime_impl.hpp"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_versions.hpp"

#include "harness/core/check.h"
#include "harness/core/names.h"
#include "harness/launch/launcher.h"

namespace ipcm {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRoudiProgram = "/usr/bin/iox-roudi";
// RouDi prints this on stdout once clients may register.
constexpr std::string_view kReadyLine = "RouDi is ready for clients";
// RouDi reserves and initialises its segments before it is ready: seconds with big mempools.
// (20 s was seen on a loaded 2-vCPU machine.)
constexpr auto kRoudiStartTimeout = 60s;
// After SIGTERM RouDi deregisters its clients and removes its objects; past this it is killed.
constexpr auto kRoudiStopGrace = 3s;
constexpr auto kPoll = 5ms;

// The record of a RouDi ipcmeter started: one per machine, like RouDi. Its name carries no pid,
// so the generic sweep (names.h) never takes it; sweep_stale_roudi reads it first.
constexpr const char* kRecordName = "ipcmeter-roudi";
constexpr const char* kShmDir = "/dev/shm/";
// iceoryx's fixed socket and lock directory (iceoryx_hoofs/platform/platform_settings.hpp).
constexpr const char* kIoxTmp = "/tmp/";
constexpr const char* kRoudiSocket = "/tmp/roudi";
constexpr const char* kRoudiLocks[] = {"/tmp/roudi.lock", "/tmp/iox-unique-roudi.lock"};
constexpr const char* kMgmtSegment = "iceoryx_mgmt";

// ipcmeter's RouDi mempools: chunk sizes for payloads up to each cap (the chunk header and
// alignment fit in the extra 256 bytes), counts for two directions of the deepest link of that
// size (kLinkBytesBudget / size slots, at most 64) plus the chunks held while one is read.
struct Pool {
  std::size_t payload_cap, count;
};
constexpr std::size_t kChunkOverhead = 256;
constexpr Pool kPools[] = {{128, 600},     {1024, 600},      {4096, 600},    {16384, 600},
                           {65536, 300},   {262144, 80},     {1u << 20, 40}};

std::string user_segment() {
  const passwd* pw = getpwuid(geteuid());
  return pw != nullptr ? pw->pw_name : std::to_string(geteuid());
}

bool alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// Who holds the flock of RouDi's lock file now (/proc/locks names the holder and the inode).
std::optional<pid_t> lock_holder(const char* path) {
  struct stat st;
  if (stat(path, &st) != 0) return std::nullopt;
  std::ifstream locks("/proc/locks");
  std::string line;
  while (std::getline(locks, line)) {
    std::istringstream in(line);
    std::string idx, kind, adv, mode, pid, where;
    if (!(in >> idx >> kind)) continue;
    if (kind == "->") in >> kind;  // a waiter's line
    if (!(in >> adv >> mode >> pid >> where)) continue;
    unsigned maj = 0, min = 0;
    unsigned long long ino = 0;
    if (std::sscanf(where.c_str(), "%x:%x:%llu", &maj, &min, &ino) != 3) continue;
    if (ino == st.st_ino && maj == major(st.st_dev) && min == minor(st.st_dev)) return pid_t(std::atol(pid.c_str()));
  }
  return std::nullopt;
}

// Any process called iox-roudi.
std::optional<pid_t> roudi_by_name() {
  for (const auto& e : std::filesystem::directory_iterator("/proc", std::filesystem::directory_options::skip_permission_denied)) {
    const std::string n = e.path().filename();
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(e.path() / "comm");
    std::string c;
    if (std::getline(comm, c) && c == "iox-roudi") {
      // A zombie is not running.
      std::ifstream stat(e.path() / "stat");
      std::string s;
      std::getline(stat, s);
      const auto close = s.rfind(')');
      if (close != std::string::npos && close + 2 < s.size() && s[close + 2] == 'Z') continue;
      return pid_t(std::atol(n.c_str()));
    }
  }
  return std::nullopt;
}

struct Record {
  pid_t roudi = 0, owner = 0;
};

std::string record_path() { return std::string(kShmDir) + kRecordName; }

// The record, if it is a regular file of this user's (never followed through a symlink).
std::optional<Record> read_record() {
  const int fd = open(record_path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st;
  char buf[128] = {};
  const bool mine = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid();
  const ssize_t n = mine ? read(fd, buf, sizeof buf - 1) : -1;
  close(fd);
  if (n < 0) return std::nullopt;
  Record r;
  long roudi = 0, owner = 0;
  std::sscanf(buf, "roudi=%ld ipcmeter=%ld", &roudi, &owner);
  r.roudi = pid_t(roudi);
  r.owner = pid_t(owner);
  return r;
}

// Removes `path` when it is this user's and of the type RouDi makes there.
bool remove_if_mine(const std::string& path, bool socket) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || st.st_uid != geteuid()) return false;
  if (!(socket ? S_ISSOCK(st.st_mode) : S_ISREG(st.st_mode))) return false;
  return unlink(path.c_str()) == 0;
}

// ---- the runtime ----

// iceoryx's runtime through its factory hook (PoshRuntime::setRuntimeFactory), one instance per
// process id. iceoryx's default factory keeps one instance for the life of the process, so a
// forked child would go on with the parent's registration and socket. The instance a child
// inherits is left alone (never used, never destroyed: destroying it would deregister the
// parent), and the child registers under its own name.
class Runtime final : public iox::runtime::PoshRuntimeImpl {
 public:
  explicit Runtime(const iox::RuntimeName_t* name)
      : PoshRuntimeImpl(iox::cxx::optional<const iox::RuntimeName_t*>(name)) {}
  static void install() { setRuntimeFactory(&factory); }
  // Empties iceoryx's process-wide relative-pointer registry (segment id -> base address). In a
  // process that talks to RouDi only the runtime's SharedMemoryUser registers segments.
  static void forget_segments() noexcept { iox::rp::BaseRelativePointer::unregisterAll(); }

  static std::mutex mu;
  static Runtime* instance;
  static pid_t owner;
  static std::string socket;

 private:
  static iox::runtime::PoshRuntime& factory(iox::cxx::optional<const iox::RuntimeName_t*> name) noexcept {
    std::lock_guard<std::mutex> lock(mu);
    if (owner != getpid()) instance = nullptr;  // inherited across fork: not ours
    if (instance == nullptr) {
      // Every caller makes the runtime through ensure_runtime, with a name, before any port.
      IPCM_CHECK(name.has_value());
      // No runtime of this process maps iceoryx's segments now: whatever the relative-pointer
      // registry holds names the mappings of a destroyed runtime or the parent's, inherited
      // across fork. iceoryx 2.0 keeps a segment's first registration and silently ignores a
      // new one (SharedMemoryUser does not check registerPtr), so the new runtime's mappings
      // would not be used: every relative pointer would resolve to the old addresses.
      forget_segments();
      instance = new Runtime(*name);
      owner = getpid();
    }
    return *instance;
  }
};
std::mutex Runtime::mu;
Runtime* Runtime::instance = nullptr;
pid_t Runtime::owner = 0;
std::string Runtime::socket;

// This process's runtime, dropped without deregistering: never deleted, because its destructor
// is the deregistration, which waits for RouDi's answer for ever; kept reachable until exit, so
// that LeakSanitizer does not take it for a leak. Its socket stays recorded and is removed at
// exit.
void abandon_runtime() noexcept {
  static auto* kept = new std::vector<Runtime*>();
  std::lock_guard<std::mutex> lock(Runtime::mu);
  if (Runtime::instance == nullptr || Runtime::owner != getpid()) return;
  kept->push_back(Runtime::instance);
  Runtime::instance = nullptr;
  Runtime::socket.clear();
}

// ---- RouDi ----

struct State {
  std::mutex mu;
  IceoryxMode mode = IceoryxMode::kOwnRoudi;
  int users = 0;
  // A link was cancelled since the runtime was made (distrust_roudi).
  bool distrusted = false;
  pid_t roudi = -1;
  bool started_by_us = false;
  pid_t owner = 0;  // the process that started it (a forked child inherits this state)
  std::string log_path, config_path;
  // For the results file.
  pid_t last_roudi = -1;
  bool last_started_by_us = false;
  unsigned starts = 0, leases = 0;
};
State& state() {
  static State s;
  return s;
}

std::vector<std::pair<NameSpace, std::string>> roudi_objects() {
  std::vector<std::pair<NameSpace, std::string>> v = {{NameSpace::kShm, kMgmtSegment},
                                                      {NameSpace::kShm, user_segment()},
                                                      {NameSpace::kFile, kRoudiSocket}};
  for (const char* l : kRoudiLocks) v.push_back({NameSpace::kFile, l});
  return v;
}

std::string config_text() {
  std::string t = "# ipcmeter's RouDi: mempools for every message size ipcmeter sends (up to 1 MiB)\n[general]\nversion = 1\n\n[[segment]]\n";
  for (const Pool& p : kPools)
    t += "\n[[segment.mempool]]\nsize = " + std::to_string(p.payload_cap + kChunkOverhead) + "\ncount = " + std::to_string(p.count) + "\n";
  return t;
}

// Writes `text` to a new file of this process's private directory; "" with `why` on failure.
std::string private_file(const std::string& name, const std::string& text, int* keep_fd, std::string& why) {
  const std::string* dir = try_private_dir(why);
  if (dir == nullptr) return "";
  const std::string path = *dir + "/" + name;
  const int fd = open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    why = sys_error("create " + path);
    return "";
  }
  if (!text.empty() && write(fd, text.data(), text.size()) != ssize_t(text.size())) {
    why = sys_error("write " + path);
    close(fd);
    return "";
  }
  if (keep_fd != nullptr) *keep_fd = fd;
  else close(fd);
  return path;
}

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string last_lines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.size() > 300) s = "..." + s.substr(s.size() - 300);
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

void forget_roudi_objects() {
  for (const auto& [ns, name] : roudi_objects()) forget_object(ns, name);
}

// RouDi's objects, when it could not remove them itself (it was killed).
void remove_roudi_objects() {
  remove_if_mine(std::string(kShmDir) + kMgmtSegment, false);
  remove_if_mine(std::string(kShmDir) + user_segment(), false);
  remove_if_mine(kRoudiSocket, true);
  for (const char* l : kRoudiLocks) remove_if_mine(l, false);
}

void remove_record() {
  remove_if_mine(record_path(), false);
  forget_object(NameSpace::kShm, kRecordName);
}

// SIGTERM, then SIGKILL after the grace; its objects removed when it could not. `at_once`: SIGKILL
// straight away (a RouDi that cannot be trusted to shut down, see distrust_roudi).
void stop_roudi(State& s, bool at_once = false) {
  if (s.roudi <= 0) return;
  kill(s.roudi, at_once ? SIGKILL : SIGTERM);
  int status = 0;
  const bool in_time = reap_child(s.roudi, std::chrono::steady_clock::now() + kRoudiStopGrace, status);
  if (!in_time || !WIFEXITED(status)) remove_roudi_objects();
  forget_roudi_objects();
  remove_record();
  if (!s.log_path.empty()) unlink(s.log_path.c_str());
  if (!s.config_path.empty()) unlink(s.config_path.c_str());
  s.log_path.clear();
  s.config_path.clear();
  s.roudi = -1;
  s.started_by_us = false;
  set_run_daemon(0);
}

bool start_roudi(State& s, std::string& why) {
  // The record first, exclusively: of two ipcmeters starting at once, one starts RouDi.
  int rfd = open(record_path().c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (rfd < 0 && errno == EEXIST) {
    sweep_stale_roudi();
    rfd = open(record_path().c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  if (rfd < 0) {
    const auto r = read_record();
    why = errno == EEXIST ? "another ipcmeter's RouDi is recorded in " + record_path() +
                                (r ? " (RouDi pid " + std::to_string(r->roudi) + ", ipcmeter pid " + std::to_string(r->owner) + ")" : "") +
                                "; pass --iceoryx=use-running to use a running RouDi"
                          : sys_error("create " + record_path());
    return false;
  }
  record_object(NameSpace::kShm, kRecordName);
  // The owner at once, so that a sweep meanwhile sees a live ipcmeter and leaves it alone.
  const std::string owner_only = "roudi=0 ipcmeter=" + std::to_string(getpid()) + "\n";
  if (write(rfd, owner_only.data(), owner_only.size()) != ssize_t(owner_only.size())) {
    why = sys_error("write " + record_path());
    close(rfd);
    remove_record();
    return false;
  }
  int log_fd = -1;
  s.config_path = private_file("roudi.toml", config_text(), nullptr, why);
  if (!s.config_path.empty()) s.log_path = private_file("roudi.log", "", &log_fd, why);
  if (s.log_path.empty()) {
    close(rfd);
    remove_record();
    return false;
  }
  // Recorded before RouDi exists: SIGINT from here on removes whatever of them it made.
  for (const auto& [ns, name] : roudi_objects()) record_object(ns, name);
  std::string err;
  const pid_t pid = launch_program(kRoudiProgram, {"iox-roudi", "-c", s.config_path, "-m", "on", "-l", "warning"}, {},
                                   log_fd, err, /*stdout_to_stderr=*/true);
  close(log_fd);
  if (pid < 0) {
    close(rfd);
    forget_roudi_objects();
    remove_record();
    why = "cannot start " + std::string(kRoudiProgram) + ": " + err;
    return false;
  }
  s.roudi = pid;
  s.started_by_us = true;
  ++s.starts;
  s.owner = getpid();
  set_run_daemon(pid);
  static bool hooked = false;
  if (!hooked) {
    hooked = true;
    std::atexit(stop_own_roudi);
  }
  const std::string rec = "roudi=" + std::to_string(pid) + " ipcmeter=" + std::to_string(getpid()) + "\n";
  const bool wrote = pwrite(rfd, rec.data(), rec.size(), 0) == ssize_t(rec.size());
  close(rfd);
  if (!wrote) {
    why = sys_error("write " + record_path());
    stop_roudi(s);
    return false;
  }
  const auto until = std::chrono::steady_clock::now() + kRoudiStartTimeout;
  for (;;) {
    const std::string log = file_text(s.log_path);
    if (log.find(kReadyLine) != std::string::npos) return true;
    if (const auto st = ended_status(pid)) {
      why = "RouDi (" + std::string(kRoudiProgram) + ", pid " + std::to_string(pid) + ") " + describe_wait_status(*st) +
            " before it was ready: " + last_lines(log);
      stop_roudi(s);
      return false;
    }
    if (std::chrono::steady_clock::now() > until) {
      why = "RouDi (pid " + std::to_string(pid) + ") was not ready after " + std::to_string(kRoudiStartTimeout.count()) +
            " s: " + last_lines(log);
      stop_roudi(s);
      return false;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace

void set_iceoryx_mode(IceoryxMode m) {
  std::lock_guard<std::mutex> lock(state().mu);
  state().mode = m;
}

std::optional<IceoryxMode> parse_iceoryx_mode(const std::string& s) {
  if (s == "use-running") return IceoryxMode::kUseRunning;
  return std::nullopt;
}

std::size_t roudi_max_payload() { return std::end(kPools)[-1].payload_cap; }

std::optional<pid_t> foreign_roudi() {
  const pid_t ours = state().roudi;
  for (const char* l : kRoudiLocks)
    if (const auto p = lock_holder(l); p && *p != ours) return p;
  if (const auto p = roudi_by_name(); p && *p != ours) return p;
  // A socket at RouDi's name that answers belongs to a RouDi whose pid this could not read.
  struct stat st;
  if (ours <= 0 && lstat(kRoudiSocket, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid != geteuid()) return pid_t(0);
  return std::nullopt;
}

RoudiLease RoudiLease::acquire(std::string& why) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  RoudiLease lease;
  if (s.users > 0 || (s.started_by_us && s.roudi > 0 && !ended_status(s.roudi))) {
    ++s.users;
    ++s.leases;
    lease.held_ = true;
    return lease;
  }
  if (s.started_by_us && s.roudi > 0) {
    // Ours, but it died: its objects go before another starts.
    stop_roudi(s);
  }
  if (const auto other = foreign_roudi()) {
    if (s.mode != IceoryxMode::kUseRunning) {
      why = "a RouDi that ipcmeter did not start is running (pid " + (*other > 0 ? std::to_string(*other) : std::string("unknown")) +
            "); pass --iceoryx=use-running to use it";
      return lease;
    }
    s.roudi = *other;
    s.started_by_us = false;
  } else if (!start_roudi(s, why)) {
    return lease;
  }
  Runtime::install();
  s.last_roudi = s.roudi;
  s.last_started_by_us = s.started_by_us;
  ++s.leases;
  ++s.users;
  lease.held_ = true;
  return lease;
}

RoudiLease& RoudiLease::operator=(RoudiLease&& o) noexcept {
  if (this != &o) {
    this->~RoudiLease();
    held_ = o.held_;
    o.held_ = false;
  }
  return *this;
}

RoudiLease::~RoudiLease() {
  if (!held_) return;
  held_ = false;
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (--s.users > 0) return;
  if (std::exchange(s.distrusted, false)) {
    // Deregistering now could wait for ever (distrust_roudi). A RouDi of ours is killed first,
    // so the runtime's farewell fails at once instead (iceoryx logs it and goes on), and the next
    // iceoryx link starts a fresh RouDi. SIGKILL, not SIGTERM: a RouDi shutting down signals the
    // processes still registered with it, and this one still is.
    if (s.started_by_us && s.roudi > 0 && s.owner == getpid()) {
      stop_roudi(s, /*at_once=*/true);
      // iceoryx writes three lines of errors (with colour escapes) about the farewell that is meant
      // to fail here; the row already says what happened. Only this thread runs ipcmeter's code
      // now (the row's peer is reaped, RouDi's own output goes to its log file).
      const int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
      const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (saved >= 0 && null >= 0) dup2(null, STDERR_FILENO);
      destroy_runtime();
      if (saved >= 0 && null >= 0) dup2(saved, STDERR_FILENO);
      if (null >= 0) close(null);
      if (saved >= 0) close(saved);
    } else {
      // Somebody else's RouDi may not be killed: the runtime is left registered and its ports in
      // place (its memory and keep-alive thread kept until exit; RouDi drops them when the
      // keep-alives stop), and the next link makes a new one.
      abandon_runtime();
      if (!s.started_by_us) s.roudi = -1;
    }
    return;
  }
  // Between rows this process has no runtime: a peer forked for the next row then starts
  // clean, and a RouDi stopping later finds nobody of ours registered (a RouDi shutting down
  // signals the processes still registered with it).
  destroy_runtime();
  if (!s.started_by_us) s.roudi = -1;
}

void distrust_roudi() noexcept {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.distrusted = true;
}

void stop_own_roudi() noexcept {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.started_by_us || s.roudi <= 0 || s.owner != getpid()) return;
  destroy_runtime();
  stop_roudi(s);
}

bool ensure_runtime(const std::string& name, std::string& why) {
  if (name.size() > iox::MAX_RUNTIME_NAME_LENGTH) {
    why = "iceoryx runtime name too long: " + name;
    return false;
  }
  // The parent and a thread peer may both be first: one makes the runtime, under its name.
  static std::mutex making;
  std::lock_guard<std::mutex> one_at_a_time(making);
  Runtime::install();
  // iceoryx's own log (Debug and Verbose lines on stderr for every registration) would bury
  // ipcmeter's output; warnings and errors still show. Hidden: its "Log level set to" line, in
  // colour escapes, would end up in the tail of a dead peer's stderr that a row's error message
  // quotes, and a raw ESC there made the results file invalid JSON.
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn,
                                                           iox::log::LogLevelOutput::kHideLogLevel);
  {
    std::lock_guard<std::mutex> lock(Runtime::mu);
    if (Runtime::instance != nullptr && Runtime::owner == getpid()) return true;
  }
  const std::string sock = runtime_socket(name);
  record_object(NameSpace::kFile, sock);
  record_object(NameSpace::kFile, sock + ".lock");  // iceoryx's lock beside it
  const iox::RuntimeName_t n(iox::cxx::TruncateToCapacity, name.c_str(), name.size());
  iox::runtime::PoshRuntime::initRuntime(n);
  // iceoryx makes it group-writable; RouDi, which answers through it, runs as this user.
  chmod(sock.c_str(), 0600);
  std::lock_guard<std::mutex> lock(Runtime::mu);
  Runtime::socket = sock;
  return true;
}

void destroy_runtime() noexcept {
  std::lock_guard<std::mutex> lock(Runtime::mu);
  if (Runtime::instance == nullptr || Runtime::owner != getpid()) return;
  delete Runtime::instance;
  Runtime::instance = nullptr;
  // Its segments are unmapped now; the registry must not keep their old addresses (the next
  // runtime, or a peer forked before it, would follow them: SIGSEGV in tryGetChunk or in
  // SegmentManager::getSegmentMappings when other mappings have taken those addresses since).
  Runtime::forget_segments();
  unlink(Runtime::socket.c_str());
  unlink((Runtime::socket + ".lock").c_str());
  forget_object(NameSpace::kFile, Runtime::socket);
  forget_object(NameSpace::kFile, Runtime::socket + ".lock");
  Runtime::socket.clear();
}

std::string runtime_name() { return unique_name("iox"); }
std::string runtime_socket(const std::string& name) { return kIoxTmp + name; }

nlohmann::json iceoryx_json() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  const bool used = s.leases > 0;
  return {{"version", ICEORYX_LATEST_RELEASE_VERSION},
          {"mode", s.mode == IceoryxMode::kUseRunning ? "use-running" : "own-roudi"},
          {"roudi_pid", used ? nlohmann::json(s.last_roudi) : nlohmann::json(nullptr)},
          {"started_by_ipcmeter", used ? nlohmann::json(s.last_started_by_us) : nlohmann::json(nullptr)},
          {"roudi_starts", s.starts},
          {"max_payload_bytes", roudi_max_payload()},
          {"zero_copy", "publisher loan() -> payload written in the chunk -> publish(); subscriber take() reads it in place"}};
}

std::vector<std::string> sweep_stale_roudi() {
  std::vector<std::string> removed;
  const auto rec = read_record();
  if (rec && !alive(rec->roudi) && !alive(rec->owner) && !foreign_roudi()) {
    auto gone = [&](const std::string& path, bool socket) {
      if (remove_if_mine(path, socket)) removed.push_back(path);
    };
    gone(std::string(kShmDir) + kMgmtSegment, false);
    gone(std::string(kShmDir) + user_segment(), false);
    gone(kRoudiSocket, true);
    for (const char* l : kRoudiLocks) gone(l, false);
    gone(record_path(), false);
  }
  // Runtime sockets of dead ipcmeter processes ("ipcmeter-<pid>-<random>-iox").
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(kIoxTmp, ec)) {
    const std::string n = e.path().filename();
    const bool lock = n.size() > 9 && n.substr(n.size() - 9) == "-iox.lock";
    if (n.rfind(kNamePrefix, 0) != 0 || !(lock || (n.size() > 4 && n.substr(n.size() - 4) == "-iox"))) continue;
    const long pid = std::atol(n.c_str() + kNamePrefix.size());
    if (pid > 0 && !alive(pid_t(pid)) && remove_if_mine(e.path(), !lock)) removed.push_back(e.path());
  }
  return removed;
}

std::string roudi_record_path() { return record_path(); }

std::vector<std::string> roudi_object_paths() {
  std::vector<std::string> v = {std::string(kShmDir) + kMgmtSegment, std::string(kShmDir) + user_segment(), kRoudiSocket};
  for (const char* l : kRoudiLocks) v.push_back(l);
  return v;
}

}  // namespace ipcm
