#include "harness/core/results_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "harness/core/status.h"

namespace ipcm {

std::string create_results_temp(const std::string& target, int& fd, std::string& why) {
  fd = -1;
  std::uint64_t r = 0;
  if (getrandom(&r, sizeof r, 0) != sizeof r) {
    why = sys_error("getrandom");
    return "";
  }
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".tmp-%d-%016" PRIx64, int(getpid()), r);
  const std::string path = target + suffix;
  fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) {
    why = errno == EEXIST ? path + " already exists (put there by someone else); not following or reusing it"
                          : "cannot write there (" + std::string(std::strerror(errno)) + ")";
    return "";
  }
  return path;
}

std::vector<std::string> sweep_stale_results_temps(const std::string& target) {
  std::vector<std::string> removed;
  const std::size_t slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : target.substr(0, slash));
  const std::string stem = (slash == std::string::npos ? target : target.substr(slash + 1)) + ".tmp-";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return removed;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0) continue;
    // "<pid>-<16 hex>", nothing else: a file merely starting like ours is not ours.
    const std::string rest = name.substr(stem.size());
    const std::size_t dash = rest.find('-');
    if (dash == std::string::npos || dash == 0 || dash > 10 || rest.size() != dash + 1 + 16) continue;
    if (rest.find_first_not_of("0123456789") != dash) continue;
    if (rest.find_first_not_of("0123456789abcdef", dash + 1) != std::string::npos) continue;
    const long long pid = std::stoll(rest.substr(0, dash));
    if (pid <= 0 || pid > 4194304) continue;  // the kernel's pid_max ceiling
    if (!(kill(pid_t(pid), 0) == -1 && errno == ESRCH)) continue;
    const std::string path = dir + "/" + name;
    struct stat st;
    if (fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) continue;
    if (unlinkat(dirfd(d), name.c_str(), 0) == 0) removed.push_back(path);
  }
  closedir(d);
  return removed;
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

bool is_complete_results_json(const std::string& text) {
  // Outside strings, each non-finite token becomes null (the same length is not needed:
  // the copy is only parsed, never written).
  std::string strict;
  strict.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      strict += c;
      if (c == '\\' && i + 1 < text.size()) strict += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      strict += c;
      continue;
    }
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "-NaN", "NaN"}) {
      const std::string t = token;
      if (text.compare(i, t.size(), t) == 0) {
        strict += "null";
        i += t.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) strict += c;
  }
  return !nlohmann::json::parse(strict, nullptr, false).is_discarded();
}

}  // namespace ipcm
