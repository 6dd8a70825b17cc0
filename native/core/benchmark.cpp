// SPDX-License-Identifier: MIT
#include "benchmark.h"

#include <chrono>
#include <stdexcept>

#include "cifar10_dataset.h"
#include "resnet34.h"
#include "runtime.h"
#include "compute_mode.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

namespace {

using Clock = std::chrono::steady_clock;

// Timing must wait for queued GPU work; on the CPU every op has finished when it returns.
void wait_for(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

constexpr int64_t kBenchRecords = 4096;

}  // namespace

BenchResult benchmark(const BenchOptions& o, const StopToken& stop) {
  const TrainingSlot slot("the benchmark");
  torch::AutoGradMode grad_mode(true);
  BenchResult result;
  result.threads = use_cpu_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  ComputeMode mode(o.precision, o.memory_format, device);
  torch::manual_seed(o.seed);
  auto gen = at::detail::createCPUGenerator(o.seed);

  const auto data = Cifar10Dataset::load(o.data_dir, Split::kTrain, kBenchRecords).to(device);
  if (data.size() < o.batch_size)
    throw std::runtime_error("the benchmark needs at least one batch of " + std::to_string(o.batch_size) +
                             " training records; " + o.data_dir + " has " + std::to_string(data.size()));
  const BatchTransform transform(o.image_size, device, mode.channels_last());
  ResNet34 model(o.preset);
  model->to(device);
  mode.prepare(model);
  model->train();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(0.001));
  result.parameters = count_parameters(*model);
  result.device = device.str();
  result.channels_last = mode.channels_last();
  result.libtorch_version = compat::libtorch_version();

  // Batch indices drawn up front, as an epoch's permutation would be.
  const int64_t total = o.warmup + o.steps;
  std::vector<torch::Tensor> indices;
  for (int64_t i = 0; i < total; ++i)
    indices.push_back(torch::randperm(data.size(), gen, torch::kInt64).slice(0, 0, o.batch_size).to(device));
  const auto make_batch = [&](int64_t i) {
    return std::make_pair(transform(data.images().index_select(0, indices[i])),
                          data.labels().index_select(0, indices[i]));
  };

  // Whole steps
  Clock::time_point start;
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
  for (int64_t i = 0; i < total; ++i) {
    if (stop.requested()) {
      result.status = Status::kCancelled;
      return result;
    }
    if (i == o.warmup) {
      wait_for(device);
      start = Clock::now();
    }
    auto [images, labels] = make_batch(i);
    loss_sum += mode.sgd_step(model, optimizer, images, labels).first;
  }
  (void)loss_sum.item<double>();
  wait_for(device);
  const double step_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.seconds_per_step = step_seconds / static_cast<double>(o.steps);
  result.images_per_second = static_cast<double>(o.steps * o.batch_size) / step_seconds;
  result.train_flops_per_image = 3 * forward_flops(o.preset, o.image_size);
  result.flops_per_second = result.train_flops_per_image * result.images_per_second;

  // The data path alone
  wait_for(device);
  start = Clock::now();
  torch::Tensor checksum = torch::zeros({}, torch::TensorOptions().device(device));
  for (int64_t i = 0; i < total; ++i) {
    auto [images, labels] = make_batch(i);
    checksum += images.sum() + labels.sum();  // keeps the work from being skipped
  }
  (void)checksum.item<double>();
  wait_for(device);
  const double data_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.data_batches_per_second = static_cast<double>(total) / data_seconds;
  result.data_fraction = (data_seconds / static_cast<double>(total)) / result.seconds_per_step;
  return result;
}

}  // namespace libtorch_resnet::core
