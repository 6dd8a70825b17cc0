// SPDX-License-Identifier: MIT
// How a run computes: its precision (math flags, autocast around forward and loss, loss scaling for fp16) and the
// memory layout of convolution weights and batches. One object per job, made on the thread that runs the model
// (autocast state is thread-local), so training, evaluation and the benchmark cannot disagree.
#pragma once

#include <torch/torch.h>

#include <optional>

#include "distributed.h"
#include "options.h"
#include "resnet34.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

// torch::optim::SGD's update, element for element the same arithmetic, done with multi-tensor (_foreach) ops:
// a handful of kernel launches for all parameters instead of four per parameter, as PyTorch's SGD does on CUDA
// by default (foreach=True). On a GPU the per-parameter loop costs more in launches than the update itself. The
// momentum buffers stay in the optimizer's state, where checkpoints read and restore them.
void sgd_multi_tensor_step(torch::optim::SGD& optimizer);

// fp16 loss scaling, as torch.cuda.amp.GradScaler does it with its defaults: scale the loss by S (starting at
// 2^16), unscale the gradients, skip the update when one of them is inf or NaN and halve S, double S after 2000
// clean steps. The scale and the overflow flag stay on the device.
class LossScaler {
 public:
  // backward() of loss * S, then (with `reducer`) the gradients averaged across ranks, then unscale; returns
  // whether the gradients are finite. Checking after the all-reduce lets every rank skip the same steps, since
  // an inf or NaN anywhere spreads through the sum. Reading the overflow flag back is this precision's one host
  // sync per step (GradScaler has the same).
  bool backward(const torch::Tensor& loss, const std::vector<torch::Tensor>& params, GradientReducer* reducer);
  // After the step (taken or skipped): grow or shrink the scale.
  void update();

  // The parts of backward() that stay on the device, for a step that must not sync (a captured one): the loss
  // times S, and the overflow flag set from the (still scaled) gradients, which a fused update then unscales and
  // skips on.
  torch::Tensor scaled(const torch::Tensor& loss);
  void check_finite(const std::vector<torch::Tensor>& grads);
  const torch::Tensor& scale() const { return scale_; }
  const torch::Tensor& found_inf() const { return found_inf_; }

 private:
  torch::Tensor scale_, growth_tracker_, found_inf_, one_;
};

class ComputeMode {
 public:
  // Sets the process-wide math flags for `precision` on CUDA (cuDNN autotuning, TF32). Throws with a hint when
  // the device cannot run it (fp16 on the CPU). kAuto precision and kAuto memory format resolve here.
  ComputeMode(Precision precision, MemoryFormat memory_format, const torch::Device& device);

  // Never kAuto.
  Precision precision() const { return precision_; }
  bool channels_last() const { return channels_last_; }
  const torch::Device& device() const { return device_; }

  // Lays the model's 4-D weights out channels-last when this mode uses it. Call after model->to(device).
  void prepare(ResNet34& model) const;

  // The dtype autocast runs forward in, or nullopt for plain float32.
  std::optional<at::ScalarType> autocast_dtype() const;

  // Forward and cross-entropy (against targets smoothed by `label_smoothing`) in this mode; `weight_cache` as in
  // compat::AutocastGuard. Returns the loss and the logits, with their graph.
  std::pair<torch::Tensor, torch::Tensor> forward_loss(ResNet34& model, const torch::Tensor& images,
                                                       const torch::Tensor& labels, double label_smoothing,
                                                       bool weight_cache = true);

  // Backward and the SGD update with the learning rate read from `lr` (float32, on the device) by one fused
  // kernel per parameter group, and nothing read back: the update a CUDA graph can hold. fp16's loss scaling stays
  // on the device (the update skips itself on overflow). CUDA builds only (cuda/fused_sgd.h).
  void backward_fused_update(const torch::Tensor& loss, torch::optim::SGD& optimizer, const torch::Tensor& lr);

  // Forward, cross-entropy (against targets smoothed by `label_smoothing`), backward and the SGD update in this
  // mode; with `reducer`, the update uses the gradients averaged across the ranks of a distributed run. Returns the batch's mean loss and the logits,
  // detached and on the device: nothing is read back (but fp16's overflow flag).
  std::pair<torch::Tensor, torch::Tensor> sgd_step(ResNet34& model, torch::optim::SGD& optimizer,
                                                   const torch::Tensor& images, const torch::Tensor& labels,
                                                   GradientReducer* reducer = nullptr,
                                                   double label_smoothing = 0);

 private:
  Precision precision_;
  bool channels_last_;
  torch::Device device_;
  LossScaler scaler_;
};

// Autocast for one scope in `mode`'s precision; nothing for fp32 and tf32.
class AutocastScope {
 public:
  explicit AutocastScope(const ComputeMode& mode, bool weight_cache = true) {
    if (auto dtype = mode.autocast_dtype()) guard_.emplace(mode.device().type(), *dtype, weight_cache);
  }

 private:
  std::optional<compat::AutocastGuard> guard_;
};

}  // namespace libtorch_resnet::core
