// A named POSIX shared-memory segment: created exclusively (mode 0600, a unique ipcmeter-
// name, recorded for cleanup) by the parent, attached by name by workers, unlinked when its
// creator lets go of it.
//
// The words inside are validated by their users (see each family's shared structure). What no
// value check can catch: a process that can open the segment can also shrink it (ftruncate),
// and a page past the new end then faults with SIGBUS on access. Segments are mode 0600, so
// only a process of the same user can; attach() maps the size the segment has when it opens.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "harness/core/status.h"

namespace ipcm {

class ShmSegment {
 public:
  static Made<ShmSegment> create(std::size_t bytes, std::string_view what);
  // create() with the name given ("/ipcmeter-…"): the tests use it to show that a name someone
  // made first is refused, never used.
  static Made<ShmSegment> create_named(std::size_t bytes, const std::string& name);
  // Refuses a segment that is not this user's: only ours can be the one our parent made.
  static Made<ShmSegment> attach(const std::string& name);
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  std::byte* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return bytes_; }
  const std::string& name() const noexcept { return name_; }

 private:
  ShmSegment() = default;
  std::string name_;
  std::byte* p_ = nullptr;
  std::size_t bytes_ = 0;
  bool owner_ = false;
};

}  // namespace ipcm
