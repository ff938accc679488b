// What every leak check in the tests needs: this process's named objects (less its private
// FIFO directory, which lives as long as the process) and whether any child is left.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <string>

#include "harness/launch/launcher.h"
#include "harness/core/names.h"

namespace ipcm {

inline std::set<std::string> my_objects() {
  const std::string& keep = private_dir();
  std::set<std::string> out;
  for (const std::string& o : live_objects_of(getpid()))
    if (o != keep) out.insert(o);
  return out;
}

// no_children_left() is the launcher's (harness/launch/launcher.h).

}  // namespace ipcm
