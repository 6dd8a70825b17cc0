// SPDX-License-Identifier: MIT
// One training step, two ways. EagerStep makes the batch and takes the step with fresh tensors each time, as
// PyTorch's eager mode does. StaticStep does the same work through buffers that live as long as the run (the
// batch's indices and augmentation draws, the learning rate, the loss and accuracy outputs), so that on CUDA the
// whole step (batch, forward, loss, backward, SGD update, sums) is captured once in a CUDA graph and replayed: one
// launch a step instead of several hundred, which is what bounds an eager step on a fast GPU. On the CPU,
// StaticStep runs the same code without capture, which is how CI tests it.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "cifar10_dataset.h"
#include "compute_mode.h"
#include "distributed.h"
#include "options.h"
#include "recipe.h"
#include "resnet34.h"

namespace libtorch_resnet::core {

namespace cuda {
class Graph;
}

struct StepInput {
  // The batch's records: indices into the training split, on its device.
  torch::Tensor indices;
  // Its augmentation, drawn on the host (draw_augmentation).
  AugmentDraws draws;
  double lr = 0;
};

// Float32 scalars on the device, valid until the next step: the batch's mean loss and its images classified right.
struct StepOutput {
  torch::Tensor loss;
  torch::Tensor correct;
};

// What every step works on. The references must outlive the step.
struct StepContext {
  const TrainOptions& options;
  const Cifar10Dataset& data;
  const BatchTransform& transform;
  ComputeMode& mode;
  ResNet34& model;
  torch::optim::SGD& optimizer;
  // Averages gradients across a distributed run's ranks; nullptr in a single process (EagerStep only).
  GradientReducer* reducer = nullptr;
};

class TrainStep {
 public:
  virtual ~TrainStep() = default;
  virtual StepOutput run(const StepInput& input) = 0;
};

class EagerStep final : public TrainStep {
 public:
  explicit EagerStep(const StepContext& context) : c_(context) {}
  StepOutput run(const StepInput& input) override;

 private:
  StepContext c_;
};

class StaticStep final : public TrainStep {
 public:
  // Steps PyTorch's CUDA-graph recipe runs for real, on a side stream, before capturing.
  static constexpr int64_t kWarmupSteps = 3;

  // Takes batches of exactly `batch_size` images. With `capture` (CUDA only) the first kWarmupSteps steps run
  // uncaptured on a side stream, the next is captured and every later one replays the graph.
  StaticStep(const StepContext& context, int64_t batch_size, bool capture);
  ~StaticStep() override;
  StepOutput run(const StepInput& input) override;

  int64_t batch_size() const { return batch_size_; }
  bool captures() const { return graph_ != nullptr; }

 private:
  void fill(const StepInput& input);
  // The step itself, reading only the static buffers: what the graph holds.
  void compute();

  StepContext c_;
  int64_t batch_size_;
  torch::Tensor indices_;
  AugmentDraws draws_;
  // float32 on CUDA, as the fused update reads it; float64 on the CPU, where the update takes it as a double.
  torch::Tensor lr_;
  torch::Tensor loss_, correct_;
  std::unique_ptr<cuda::Graph> graph_;
  int64_t runs_ = 0;
};

}  // namespace libtorch_resnet::core
