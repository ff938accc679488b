// Named IPC objects (shared memory, message queues, FIFO directories) and child processes
// are recorded here from the moment they exist, so that every exit path — return, error,
// SIGINT/SIGTERM — removes or kills them. Names are "ipcmeter-<pid>-<random>-<what>": the
// pid lets a later run sweep what a dead run left, the random part makes them unguessable.
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ipcm {

inline constexpr std::string_view kNamePrefix = "ipcmeter-";

enum class NameSpace { kShm, kMq, kDir, kFile };

// A fresh name for an object of this process; `what` is a short tag such as "ring".
std::string unique_name(std::string_view what);

// Records a created object until forget_object(); remove_recorded_objects() removes all.
void record_object(NameSpace ns, const std::string& name);
void forget_object(NameSpace ns, const std::string& name);
// Removes every recorded object; async-signal-safe (used by the signal handler).
void remove_recorded_objects() noexcept;

// Records a child process until forget_child(); the signal handler kills recorded children.
void record_child(pid_t pid);
void forget_child(pid_t pid);

// A directory private to this process (mode 0700 whatever the umask, owned by this user,
// created exclusively on first use under temp_root()) for FIFOs and sockets; removed at exit
// with whatever it still holds. nullptr with `why` when it cannot be made safely: the temp
// directory is one another user could rename things in (see untrusted_dir_reason), or the
// system refuses.
const std::string* try_private_dir(std::string& why);
// As try_private_dir, for callers with no error path: a failure ends the run (abandon_run).
const std::string& private_dir();

// Why `dir` (an absolute path) is no place for this user's private objects, or "" when it
// is: it, or a directory above it, is owned by another user than this one or root, or is
// writable by group or others without the sticky bit (whoever can write a directory without
// the sticky bit can rename or replace what this user puts in it).
std::string untrusted_dir_reason(const std::string& dir);

// Removes what runs that are no longer alive left behind: shared memory in /dev/shm, queues
// in /dev/mqueue (when mounted), private directories in the temp directory. Only objects
// owned by this user (checked with lstat/fstat, never by name alone) whose pid is dead, of
// the type ipcmeter makes (a regular file, or a directory); symlinks are never followed.
// Returns one line per object removed.
std::vector<std::string> sweep_stale_objects();

// Objects whose names carry this process's pid and still exist (tests use it to find leaks).
std::vector<std::string> live_objects_of(pid_t pid);

// The last resort when the run is wedged beyond recovery: one line on stderr, children
// killed, objects removed (the unfinished results file among them), exit status 1.
[[noreturn]] void abandon_run(const char* why) noexcept;

// SIGINT, SIGTERM, SIGHUP: kill children, remove objects, then die of the same signal.
void install_cleanup_handlers();

// The system's temporary directory: $TMPDIR when it is an absolute path to an existing
// directory, else /tmp; with symlinks resolved, so that every later use names the directory
// that untrusted_dir_reason checked.
std::string temp_root();

}  // namespace ipcm
