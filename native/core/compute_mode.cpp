// SPDX-License-Identifier: MIT
#include "compute_mode.h"

#include <stdexcept>

#include "cuda/fused_sgd.h"

namespace libtorch_resnet::core {

namespace {

constexpr double kInitialScale = 65536.0;
constexpr double kGrowthFactor = 2.0;
constexpr double kBackoffFactor = 0.5;
constexpr int64_t kGrowthInterval = 2000;

}  // namespace

void sgd_multi_tensor_step(torch::optim::SGD& optimizer) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    std::vector<torch::Tensor> params, grads;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      params.push_back(p);
      grads.push_back(p.grad());
    }
    if (params.empty()) continue;
    if (o.weight_decay() != 0) grads = at::_foreach_add(grads, params, o.weight_decay());
    if (o.momentum() != 0) {
      // A parameter's first step starts its buffer as a copy of the gradient; later steps update it in place.
      std::vector<torch::Tensor> buffers, updated, updated_grads;
      for (size_t i = 0; i < params.size(); ++i) {
        auto* state = compat::sgd_state(optimizer, params[i], /*create=*/true);
        if (!state->momentum_buffer().defined()) {
          state->momentum_buffer(torch::clone(grads[i]).detach());
        } else {
          updated.push_back(state->momentum_buffer());
          updated_grads.push_back(grads[i]);
        }
        buffers.push_back(state->momentum_buffer());
      }
      if (!updated.empty()) {
        at::_foreach_mul_(updated, o.momentum());
        at::_foreach_add_(updated, updated_grads, 1 - o.dampening());
      }
      grads = o.nesterov() ? at::_foreach_add(grads, buffers, o.momentum()) : buffers;
    }
    at::_foreach_add_(params, grads, -o.lr());
  }
}

torch::Tensor LossScaler::scaled(const torch::Tensor& loss) {
  if (!scale_.defined()) {
    const auto on = torch::TensorOptions().device(loss.device());
    scale_ = torch::full({}, kInitialScale, on.dtype(torch::kFloat32));
    growth_tracker_ = torch::zeros({}, on.dtype(torch::kInt32));
    found_inf_ = torch::zeros({}, on.dtype(torch::kFloat32));
    one_ = torch::ones({}, on.dtype(torch::kFloat32));
  }
  return loss.to(torch::kFloat32) * scale_;
}

void LossScaler::check_finite(const std::vector<torch::Tensor>& grads) {
  found_inf_.zero_();
  // An inverse scale of 1: the check without the unscaling, which the fused update does itself.
  at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, one_);
}

bool LossScaler::backward(const torch::Tensor& loss, const std::vector<torch::Tensor>& params,
                          GradientReducer* reducer) {
  scaled(loss).backward();
  if (reducer != nullptr) reducer->finish();
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  found_inf_.zero_();
  at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, scale_.reciprocal());
  return found_inf_.item<float>() == 0.0f;
}

void LossScaler::update() {
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, kGrowthFactor, kBackoffFactor, kGrowthInterval);
}

ComputeMode::ComputeMode(Precision precision, MemoryFormat memory_format, const torch::Device& device)
    : precision_(precision != Precision::kAuto ? precision : device.is_cuda() ? Precision::kBf16 : Precision::kFp32),
      channels_last_(memory_format == MemoryFormat::kChannelsLast ||
                     (memory_format == MemoryFormat::kAuto && device.is_cuda())),
      device_(device) {
  if (precision == Precision::kFp16 && !device.is_cuda())
    throw std::runtime_error(
        "precision 'fp16' needs a CUDA device (its loss scaling runs on the GPU); on the CPU use 'bf16' or 'fp32'");
  if (device.is_cuda()) {
    auto& context = at::globalContext();
    context.setBenchmarkCuDNN(true);
    // PyTorch's defaults are TF32 convolutions and full-float32 matrix products; 'tf32' frees the products too.
    // Set both every time: the flags are process-wide and an earlier job may have changed them.
    context.setAllowTF32CuDNN(true);
    context.setAllowTF32CuBLAS(precision_ == Precision::kTf32);
  }
}

void ComputeMode::prepare(ResNet34& model) const {
  if (!channels_last_) return;
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
}

std::optional<at::ScalarType> ComputeMode::autocast_dtype() const {
  switch (precision_) {
    case Precision::kBf16: return at::kBFloat16;
    case Precision::kFp16: return at::kHalf;
    default: return std::nullopt;
  }
}

std::pair<torch::Tensor, torch::Tensor> ComputeMode::forward_loss(ResNet34& model, const torch::Tensor& images,
                                                                  const torch::Tensor& labels, double label_smoothing,
                                                                  bool weight_cache) {
  AutocastScope autocast(*this, weight_cache);
  auto logits = model->forward(images);
  auto loss = torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
  return {loss, logits};
}

void ComputeMode::backward_fused_update(const torch::Tensor& loss, torch::optim::SGD& optimizer,
                                        const torch::Tensor& lr) {
  const bool fp16 = precision_ == Precision::kFp16;
  (fp16 ? scaler_.scaled(loss) : loss).backward();
  if (!fp16) {
    cuda::fused_sgd_step(optimizer, lr, std::nullopt, std::nullopt);
    return;
  }
  std::vector<torch::Tensor> grads;
  for (const auto& group : optimizer.param_groups())
    for (const auto& p : group.params()) grads.push_back(p.grad());
  scaler_.check_finite(grads);
  cuda::fused_sgd_step(optimizer, lr, scaler_.scale(), scaler_.found_inf());
  scaler_.update();
}

std::pair<torch::Tensor, torch::Tensor> ComputeMode::sgd_step(ResNet34& model, torch::optim::SGD& optimizer,
                                                              const torch::Tensor& images,
                                                              const torch::Tensor& labels,
                                                              GradientReducer* reducer, double label_smoothing) {
  const auto [loss, logits] = forward_loss(model, images, labels, label_smoothing);
  if (reducer != nullptr)
    reducer->prepare_backward();
  else
    optimizer.zero_grad();
  if (precision_ == Precision::kFp16) {
    if (scaler_.backward(loss, model->parameters(), reducer)) sgd_multi_tensor_step(optimizer);
    scaler_.update();
  } else {
    loss.backward();
    if (reducer != nullptr) reducer->finish();
    sgd_multi_tensor_step(optimizer);
  }
  return {loss.detach().to(torch::kFloat32), logits.detach()};
}

}  // namespace libtorch_resnet::core
