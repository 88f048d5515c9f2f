// A failed system call, as JavaScript will see it: the call's name and its errno.
#pragma once

namespace dgram {

struct SysError {
  const char* syscall = nullptr;  // nullptr: no error
  int error = 0;
  explicit operator bool() const { return syscall != nullptr; }
};

inline SysError ok() { return {}; }
inline SysError failed(const char* syscall, int error) { return {syscall, error}; }

}  // namespace dgram
