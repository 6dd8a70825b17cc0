// SPDX-License-Identifier: MIT
// The one place where LibTorch 1.13 (Debian, CPU) and 2.x (pip or zip, CUDA) differ for this project.
// See shared/notes/libtorch-portability.md for what was checked.
#pragma once

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#define LIBTORCH_RESNET_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace libtorch_resnet::compat {

inline const char* libtorch_version() { return TORCH_VERSION; }

// size_t in 1.13, c10::DeviceIndex (int8) in 2.x.
inline int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

// Debian's 1.13 pins a thread's first parallel region to one OpenMP thread; setting the count explicitly
// restores all cores and reaches the pool used by worker threads too. 2.x defaults to all cores already.
inline void set_cpu_threads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

}  // namespace libtorch_resnet::compat
