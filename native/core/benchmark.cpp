// SPDX-License-Identifier: MIT
#include "benchmark.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "cifar10_dataset.h"
#include "compute_mode.h"
#include "cuda/cuda_graph.h"
#include "recipe.h"
#include "resnet34.h"
#include "runtime.h"
#include "torch_compat.h"
#include "train_step.h"

namespace libtorch_resnet::core {

namespace {

using Clock = std::chrono::steady_clock;

// Timing must wait for queued GPU work; on the CPU every op has finished when it returns.
void wait_for(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

constexpr int64_t kBenchRecords = 4096;

// The training run whose step the benchmark times: the article's SGD on plain batches (no augmentation).
TrainOptions step_options(const BenchOptions& o) {
  TrainOptions t;
  t.preset = o.preset;
  t.image_size = o.image_size;
  t.batch_size = o.batch_size;
  t.lr = 0.01;
  t.momentum = 0.9;
  t.weight_decay = 0.001;
  t.precision = o.precision;
  t.memory_format = o.memory_format;
  t.cuda_graph = o.cuda_graph;
  return t;
}

// Eager, or through static buffers (captured on CUDA), as cudaGraph asks; as train() picks for a single process.
std::unique_ptr<TrainStep> make_step(const StepContext& context, CudaGraph cuda_graph, const torch::Device& device) {
  const bool static_step =
      cuda_graph == CudaGraph::kOn || (cuda_graph == CudaGraph::kAuto && device.is_cuda() && cuda::graphs_available());
  if (!static_step) return std::make_unique<EagerStep>(context);
  return std::make_unique<StaticStep>(context, context.options.batch_size, /*capture=*/device.is_cuda());
}

// Host and GPU time of `steps` steps, apart: each starts on an idle GPU, so the host's time in run() is only
// issuing it; on CUDA the stream is held busy meanwhile, so that the step's kernels then run back to back and the
// events around them time the GPU alone.
std::pair<double, double> step_breakdown(TrainStep& step, const std::function<StepInput(int64_t)>& input,
                                         int64_t steps, const torch::Device& device) {
  double host = 0, gpu = 0, hold = 0.05;
  for (int64_t i = 0; i < steps; ++i) {
    wait_for(device);
    std::optional<cuda::StreamTimer> timer;
    if (device.is_cuda()) {
      cuda::hold_stream(hold);
      timer.emplace();
      timer->start();
    }
    const auto start = Clock::now();
    step.run(input(i));
    const double issued = std::chrono::duration<double>(Clock::now() - start).count();
    host += issued;
    if (timer) {
      timer->stop();
      gpu += timer->seconds();
      // The hold must outlast the host's issuing, or the GPU would wait on it and the events would time the host.
      hold = std::max(hold, 4 * issued);
    }
  }
  return {host / static_cast<double>(steps), gpu / static_cast<double>(steps)};
}

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
  const BatchTransform transform(o.image_size, device, mode.channels_last(),
                                 normalization_for(o.preset, cifar10_info().normalization));
  const TrainOptions options = step_options(o);
  ResNet34 model(o.preset);
  model->to(device);
  mode.prepare(model);
  model->train();
  torch::optim::SGD optimizer(parameter_groups(model->parameters(), options), sgd_options(options));
  result.parameters = count_parameters(*model);
  result.device = device.str();
  result.channels_last = mode.channels_last();
  result.libtorch_version = compat::libtorch_version();
  const auto step = make_step(StepContext{options, data, transform, mode, model, optimizer}, o.cuda_graph, device);
  const auto* static_step = dynamic_cast<const StaticStep*>(step.get());
  result.cuda_graph = static_step != nullptr && static_step->captures();

  // Batch indices drawn up front, as an epoch's permutation would be. A captured step needs its warm-up steps and
  // the capture before the timing starts.
  constexpr int64_t kBreakdownSteps = 5;
  const int64_t warmup = std::max(o.warmup, result.cuda_graph ? StaticStep::kWarmupSteps + 1 : 0);
  const int64_t total = warmup + o.steps;
  std::vector<torch::Tensor> indices;
  for (int64_t i = 0; i < total + kBreakdownSteps; ++i)
    indices.push_back(torch::randperm(data.size(), gen, torch::kInt64).slice(0, 0, o.batch_size).to(device));
  const auto input = [&](int64_t i) {
    StepInput in;
    in.indices = indices[i];
    in.lr = options.lr;
    return in;
  };

  // Whole steps
  Clock::time_point start;
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
  for (int64_t i = 0; i < total; ++i) {
    if (stop.requested()) {
      result.status = Status::kCancelled;
      return result;
    }
    if (i == warmup) {
      wait_for(device);
      start = Clock::now();
    }
    loss_sum += step->run(input(i)).loss;
  }
  (void)loss_sum.item<double>();
  wait_for(device);
  const double step_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.seconds_per_step = step_seconds / static_cast<double>(o.steps);
  result.images_per_second = static_cast<double>(o.steps * o.batch_size) / step_seconds;
  result.train_flops_per_image = 3 * forward_flops(o.preset, o.image_size);
  result.flops_per_second = result.train_flops_per_image * result.images_per_second;
  std::tie(result.host_seconds_per_step, result.gpu_seconds_per_step) =
      step_breakdown(*step, [&](int64_t i) { return input(total + i); }, kBreakdownSteps, device);

  // The data path alone
  const auto make_batch = [&](int64_t i) {
    return std::make_pair(transform(data.images().index_select(0, indices[i])),
                          data.labels().index_select(0, indices[i]));
  };
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
