// SPDX-License-Identifier: MIT
// Failures a caller may want to tell apart from the rest (the binding gives each its own error code). Each message
// says what happened and what to change.
#pragma once

#include <cstdint>
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

}  // namespace libtorch_resnet::core
