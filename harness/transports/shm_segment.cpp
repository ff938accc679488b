#include "harness/transports/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/core/names.h"

namespace ipcm {

Made<ShmSegment> ShmSegment::create(std::size_t bytes, std::string_view what) {
  return create_named(bytes, "/" + unique_name(what));
}

Made<ShmSegment> ShmSegment::create_named(std::size_t bytes, const std::string& name) {
  std::unique_ptr<ShmSegment> s(new ShmSegment());
  s->name_ = name;
  // O_EXCL: a segment someone else made under the name (to read or steer our messages) is
  // an error, never reused.
  const int fd = shm_open(s->name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST)
    return Made<ShmSegment>::Fail("shared memory " + name + " already exists (made by another process); refusing to use it");
  if (fd < 0) return Made<ShmSegment>::Fail(sys_error("shm_open " + s->name_));
  s->owner_ = true;
  record_object(NameSpace::kShm, s->name_);
  // 0600 exactly, whatever the umask (it can only take bits away; one like 0277 would lock
  // our own peers out).
  if (fchmod(fd, 0600) != 0) {
    const std::string e = sys_error("fchmod " + s->name_);
    close(fd);
    return Made<ShmSegment>::Fail(e);
  }
  if (ftruncate(fd, off_t(bytes)) != 0) {
    const std::string e = sys_error("ftruncate " + s->name_);
    close(fd);
    return Made<ShmSegment>::Fail(e);
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return Made<ShmSegment>::Fail(sys_error("mmap " + s->name_));
  s->p_ = static_cast<std::byte*>(p);
  s->bytes_ = bytes;
  return {std::move(s), {}};
}

Made<ShmSegment> ShmSegment::attach(const std::string& name) {
  std::unique_ptr<ShmSegment> s(new ShmSegment());
  s->name_ = name;
  const int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return Made<ShmSegment>::Fail(sys_error("shm_open " + name));
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_uid != geteuid()) {
    close(fd);
    return Made<ShmSegment>::Fail("shared memory " + name + " belongs to uid " + std::to_string(st.st_uid) +
                                  ", not this user; refusing to use it");
  }
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return Made<ShmSegment>::Fail("shared memory " + name + " has no size");
  }
  void* p = mmap(nullptr, std::size_t(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return Made<ShmSegment>::Fail(sys_error("mmap " + name));
  s->p_ = static_cast<std::byte*>(p);
  s->bytes_ = std::size_t(st.st_size);
  return {std::move(s), {}};
}

ShmSegment::~ShmSegment() {
  if (p_) munmap(p_, bytes_);
  if (owner_) {
    shm_unlink(name_.c_str());
    forget_object(NameSpace::kShm, name_);
  }
}

}  // namespace ipcm
