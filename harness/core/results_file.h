// The results file: created beside its target under a name nobody else can have prepared,
// checked after Google Benchmark wrote it, and only then renamed into place.
#pragma once

#include <string>
#include <vector>

namespace ipcm {

// A new temporary file beside `target` ("<target>.tmp-<pid>-<random>"), for the results to be
// written to and renamed into place. O_CREAT|O_EXCL|O_NOFOLLOW: whatever someone else put at
// the name (a symlink to a file of ours, a file they can read) makes this fail rather than be
// followed or reused, and the random part keeps them from putting it there in the first place
// (a name made of the pid alone can be guessed in a shared directory like /tmp). Mode
// 0666 & ~umask, as an ordinary output file. Returns the path, with `fd` open on the file;
// "" with `why` when it cannot be made.
//
// Write through /proc/self/fd/<fd> rather than the path where the writer opens by name
// (Google Benchmark's --benchmark_out): that names this very file even if someone who can
// write the directory replaced the name in between.
std::string create_results_temp(const std::string& target, int& fd, std::string& why);

// Removes what a killed run left beside `target`: regular files of this user named
// "<target>.tmp-<pid>-<16 hex digits>" whose pid is dead (a SIGKILL gives the run no chance to
// remove its own). A symlink, another user's file, or a live pid's (a run writing the same
// target now) is left alone. Returns the paths removed.
std::vector<std::string> sweep_stale_results_temps(const std::string& target);

// The path naming the open file `fd` (/proc/self/fd/<fd>).
std::string fd_path(int fd);

// True when `text` is one whole JSON document, where Google Benchmark's own spellings of
// non-finite numbers (NaN, -NaN, Infinity, -Infinity: it writes them unquoted, e.g. the _cv
// of a counter whose mean is 0) count as numbers, as Python's json and Google Benchmark's
// compare.py read them. A file cut short by a full disk is not one.
bool is_complete_results_json(const std::string& text);

}  // namespace ipcm
