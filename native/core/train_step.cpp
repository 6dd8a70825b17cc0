// SPDX-License-Identifier: MIT
#include "train_step.h"

#include <stdexcept>
#include <string>

#include "cuda/cuda_graph.h"

namespace libtorch_resnet::core {

StepOutput EagerStep::run(const StepInput& in) {
  const auto& device = c_.data.images().device();
  auto images = c_.transform(
      apply_augmentation(c_.data.images().index_select(0, in.indices), c_.options.augment, to_device(in.draws, device)));
  auto labels = c_.data.labels().index_select(0, in.indices);
  set_lr(c_.optimizer, in.lr);
  const auto [loss, logits] =
      c_.mode.sgd_step(c_.model, c_.optimizer, images, labels, c_.reducer, c_.options.label_smoothing);
  return {loss, logits.argmax(1).eq(labels).sum().to(torch::kFloat32)};
}

StaticStep::StaticStep(const StepContext& context, int64_t batch_size, bool capture)
    : c_(context), batch_size_(batch_size) {
  const auto& device = c_.data.images().device();
  if (capture && !device.is_cuda()) throw std::logic_error("StaticStep: only CUDA steps can be captured");
  if (device.is_cuda() && !capture) throw std::logic_error("StaticStep: a CUDA step must be captured");
  if (capture && !cuda::graphs_available())
    throw std::runtime_error("this build of the addon cannot capture CUDA graphs: it needs a CUDA LibTorch 2.4 or "
                             "newer at build time. Train with cudaGraph false, or rebuild against such a LibTorch");
  const auto on = torch::TensorOptions().device(device);
  indices_ = torch::zeros({batch_size}, on.dtype(torch::kInt64));
  if (c_.options.augment != Augment::kNone) draws_.flip = torch::zeros({batch_size}, on.dtype(torch::kInt64));
  if (c_.options.augment == Augment::kCropFlip) draws_.offsets = torch::zeros({2, batch_size}, on.dtype(torch::kInt64));
  lr_ = torch::zeros({}, on.dtype(capture ? torch::kFloat32 : torch::kFloat64));
  if (capture) graph_ = std::make_unique<cuda::Graph>();
}

StaticStep::~StaticStep() = default;

void StaticStep::fill(const StepInput& in) {
  if (in.indices.size(0) != batch_size_)
    throw std::logic_error("StaticStep: a batch of " + std::to_string(in.indices.size(0)) + " images for a step of " +
                           std::to_string(batch_size_));
  indices_.copy_(in.indices, /*non_blocking=*/true);
  copy_draws(in.draws, draws_);
  lr_.fill_(in.lr);
  // The groups' own learning rate is what checkpoints record; the update reads lr_.
  set_lr(c_.optimizer, in.lr);
}

void StaticStep::compute() {
  const TrainOptions& o = c_.options;
  auto labels = c_.data.labels().index_select(0, indices_);
  auto images = c_.transform(apply_augmentation(c_.data.images().index_select(0, indices_), o.augment, draws_));
  // Autocast's cache of cast weights would be captured as it stood and then replayed stale: off here.
  const auto [loss, logits] = c_.mode.forward_loss(c_.model, images, labels, o.label_smoothing, /*weight_cache=*/false);
  // Backward makes fresh gradients (inside a capture, in the graph's own memory) rather than adding to old ones.
  for (auto& p : c_.model->parameters()) p.mutable_grad().reset();
  if (graph_) {
    c_.mode.backward_fused_update(loss, c_.optimizer, lr_);
  } else {
    loss.backward();
    set_lr(c_.optimizer, lr_.item<double>());
    sgd_multi_tensor_step(c_.optimizer);
  }
  loss_ = loss.detach().to(torch::kFloat32);
  correct_ = logits.detach().argmax(1).eq(labels).sum().to(torch::kFloat32);
}

StepOutput StaticStep::run(const StepInput& in) {
  fill(in);
  if (!graph_) {
    compute();
  } else if (runs_ < kWarmupSteps) {
    graph_->warm_up([this] { compute(); });
  } else {
    if (!graph_->captured()) graph_->capture([this] { compute(); });
    graph_->replay();
  }
  ++runs_;
  return {loss_, correct_};
}

}  // namespace libtorch_resnet::core
