// What a channel operation or a set-up step reports. Status is returned from the timed loop,
// so it carries only static text and an errno: nothing to allocate or free.
#pragma once

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace ipcm {

struct Status {
  enum Code : unsigned char {
    kOk,
    kClosed,     // the other end went away (EOF, peer exited)
    kCancelled,  // the watchdog gave up on the peer
    kTooBig,     // the message does not fit the transport
    kSysError,   // a system call failed; err holds errno
    kCorrupt,    // a message failed its sequence or checksum check
    kTimedOut,   // Channel::recv_until: no message before the deadline
  };
  Code code = kOk;
  // kCorrupt: err holds the 32-bit value a peer left in shared memory (see has_seen). It sits
  // in the padding after code, so Status stays 16 bytes and returns in registers.
  bool has_seen = false;
  int err = 0;
  const char* what = "";  // static text naming the call or the check that failed

  static Status Ok() noexcept { return {}; }
  static Status Sys(const char* what, int err = errno) noexcept { return {.code = kSysError, .err = err, .what = what}; }
  static Status Closed(const char* what) noexcept { return {.code = kClosed, .what = what}; }
  static Status Cancelled(const char* what) noexcept { return {.code = kCancelled, .what = what}; }
  static Status Corrupt(const char* what) noexcept { return {.code = kCorrupt, .what = what}; }
  static Status TimedOut(const char* what) noexcept { return {.code = kTimedOut, .what = what}; }
  // A shared word a peer wrote failed validation: `what` names the structure and the field,
  // `seen` is the value read (the one the check looked at, not a second load).
  static Status Corrupt(const char* what, std::uint32_t seen) noexcept {
    return {.code = kCorrupt, .has_seen = true, .err = static_cast<int>(seen), .what = what};
  }

  bool ok() const noexcept { return code == kOk; }
  explicit operator bool() const noexcept { return ok(); }
  std::string describe() const;
};
static_assert(sizeof(Status) == 16, "Status is returned from timed loops: keep it two registers");

// A set-up step's result: the object, or a sentence saying why it could not be made.
template <class T>
struct Made {
  std::unique_ptr<T> value;
  std::string error;

  static Made Fail(std::string why) { return Made{nullptr, std::move(why)}; }
  explicit operator bool() const noexcept { return value != nullptr; }
};

// "what: strerror(err)" for set-up errors.
std::string sys_error(const std::string& what, int err = errno);

}  // namespace ipcm
