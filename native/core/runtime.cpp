// SPDX-License-Identifier: MIT
#include "runtime.h"

#include <ATen/detail/CUDAHooksInterface.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "distributed.h"
#include "failures.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

namespace {

std::atomic<bool> training_slot_taken{false};

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

c10::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw std::runtime_error("device '" + spec + "' requested but LibTorch (" + compat::libtorch_version() +
                               ") sees no CUDA device; use device: 'cpu' or 'auto'");
    torch::Device device(spec == "cuda" ? std::string("cuda:0") : spec);
    const int count = compat::cuda_device_count();
    if (device.index() >= count)
      throw std::runtime_error("device '" + spec + "' requested but only " + std::to_string(count) +
                               " CUDA device(s) are visible; use cuda:0 to cuda:" + std::to_string(count - 1));
    return device;
  }
  throw std::runtime_error("unknown device '" + spec + "'; use 'auto', 'cpu', 'cuda' or 'cuda:N'");
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.libtorch_version = compat::libtorch_version();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? compat::cuda_device_count() : 0;
  info.default_threads = default_threads();
  for (auto backend : {Backend::kGloo, Backend::kNccl})
    if (backend_built(backend)) info.distributed_backends.push_back(name_of(backend));
  // The CUDA hooks answer without CUDA headers; a CPU LibTorch's stub throws on the version queries, hence the
  // guards.
  const auto& cuda = at::detail::getCUDAHooks();
  if (cuda.hasCUDART()) {
    info.cuda_runtime_version = cuda.versionCUDART();
    if (cuda.hasCuDNN()) info.cudnn_version = cuda.versionCuDNN();
  }
  info.cxx11_abi = _GLIBCXX_USE_CXX11_ABI;
  return info;
}

int use_cpu_threads(int threads) {
  compat::set_cpu_threads(threads > 0 ? threads : default_threads());
  return at::get_num_threads();
}

TrainingSlot::TrainingSlot(const char* job) {
  if (training_slot_taken.exchange(true))
    throw BusyError(std::string("cannot start ") + job +
                    ": another training run or benchmark is going in this process (LibTorch's seed, random "
                    "generator and thread count are process-wide); wait for it to finish, or use a second process");
}

TrainingSlot::~TrainingSlot() { training_slot_taken.store(false); }

}  // namespace libtorch_resnet::core
