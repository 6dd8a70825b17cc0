// SPDX-License-Identifier: MIT
// Failures a caller may want to tell apart from the rest (the binding gives each its own error code). Each message
// says what happened and what to change.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace libtorch_resnet::core {

// The training loss became NaN or infinite: the run is stopped before anything non-finite is written.
class NonFiniteLossError : public std::runtime_error {
 public:
  NonFiniteLossError(const std::string& message, int64_t epoch, int64_t step)
      : std::runtime_error(message), epoch(epoch), step(step) {}
  int64_t epoch;
  int64_t step;
};

// Another training job holds the process-wide state (seed, default generator, thread count).
class BusyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A distributed run could not meet its other ranks or a collective with them failed: a rank died, hung past the
// timeout, or the replicas' weights diverged.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file or folder that could not be read or written, by why: the disk is full, permission is denied, or it is
// not there.
class FileError : public std::runtime_error {
 public:
  enum class Kind { kDiskFull, kPermission, kMissing, kOther };
  FileError(const std::string& message, Kind kind) : std::runtime_error(message), kind(kind) {}

  // `what` `path` and the system's reason for `err` (an errno), with what to do about it.
  static FileError from_errno(int err, const std::string& what, const std::string& path) {
    const Kind kind = kind_of(err);
    std::string message = what + " " + path + ": " + std::strerror(err);
    if (kind == Kind::kDiskFull) message += "; free space on that disk, or write somewhere else (runDir, dataDir)";
    if (kind == Kind::kPermission)
      message += "; change its permissions, or use a file or folder this user may read and write";
    return FileError(message, kind);
  }
  static Kind kind_of(int err) {
    switch (err) {
      case ENOSPC:
      case EDQUOT: return Kind::kDiskFull;
      case EACCES:
      case EPERM:
      case EROFS: return Kind::kPermission;
      case ENOENT: return Kind::kMissing;
      default: return Kind::kOther;
    }
  }
  Kind kind;
};

// A checkpoint (or weights file) that is damaged, truncated, or not one of this package's.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// CIFAR-10 files that are there but damaged (a size that is no whole number of records, a label above 9).
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace libtorch_resnet::core
