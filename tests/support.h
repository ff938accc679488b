// What every leak check in the tests needs: this process's named objects (less its private
// FIFO directory, which lives as long as the process) and whether any child is left.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <string>

#include "harness/launch/launcher.h"
#include "harness/core/names.h"
#include "harness/launch/peer_kind.h"

namespace ipcm {

// A pid that is certainly dead: a child that exited and was reaped (names of dead runs, stale
// files, are made with it).
inline pid_t dead_pid() {
  const pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  return p;
}

// Whether anything, a dangling symlink included, is at the path.
inline bool exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

inline std::set<std::string> my_objects() {
  const std::string& keep = private_dir();
  std::set<std::string> out;
  for (const std::string& o : live_objects_of(getpid()))
    if (o != keep) out.insert(o);
  return out;
}

// no_children_left() is the launcher's (harness/launch/launcher.h).

// The tests run over every peer kind; a kind the peer-kind table does not offer for a use must
// be refused with the table's sentence. True when the table refuses it (the case then ends), so
// a new kind needs no edit in the tests.
inline bool expect_table_refusal(PeerKind kind, PeerUse use, const std::string& error) {
  const std::string no = peer_refusal(kind, use);
  if (no.empty()) return false;
  EXPECT_NE(error.find(no), std::string::npos) << error;
  return true;
}

}  // namespace ipcm
