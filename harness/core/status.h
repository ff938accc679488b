// What a channel operation or a set-up step reports. Status is returned from the timed loop,
// so it carries only static text and an errno: nothing to allocate or free.
#pragma once

#include <cerrno>
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
  };
  Code code = kOk;
  int err = 0;
  const char* what = "";  // static text naming the call or the check that failed

  static Status Ok() noexcept { return {}; }
  static Status Sys(const char* what, int err = errno) noexcept { return {kSysError, err, what}; }
  static Status Closed(const char* what) noexcept { return {kClosed, 0, what}; }
  static Status Cancelled(const char* what) noexcept { return {kCancelled, 0, what}; }
  static Status Corrupt(const char* what) noexcept { return {kCorrupt, 0, what}; }

  bool ok() const noexcept { return code == kOk; }
  explicit operator bool() const noexcept { return ok(); }
  std::string describe() const;
};

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
