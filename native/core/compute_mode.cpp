// SPDX-License-Identifier: MIT
#include "compute_mode.h"

#include <stdexcept>

namespace libtorch_resnet::core {

namespace {

constexpr double kInitialScale = 65536.0;
constexpr double kGrowthFactor = 2.0;
constexpr double kBackoffFactor = 0.5;
constexpr int64_t kGrowthInterval = 2000;

}  // namespace

bool LossScaler::backward(const torch::Tensor& loss, const std::vector<torch::Tensor>& params) {
  if (!scale_.defined()) {
    const auto on = torch::TensorOptions().device(loss.device());
    scale_ = torch::full({}, kInitialScale, on.dtype(torch::kFloat32));
    growth_tracker_ = torch::zeros({}, on.dtype(torch::kInt32));
    found_inf_ = torch::zeros({}, on.dtype(torch::kFloat32));
  }
  (loss.to(torch::kFloat32) * scale_).backward();
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
    : precision_(precision),
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
    context.setAllowTF32CuBLAS(precision == Precision::kTf32);
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

std::pair<torch::Tensor, torch::Tensor> ComputeMode::sgd_step(ResNet34& model, torch::optim::SGD& optimizer,
                                                              const torch::Tensor& images,
                                                              const torch::Tensor& labels) {
  torch::Tensor logits, loss;
  {
    AutocastScope autocast(*this);
    logits = model->forward(images);
    loss = torch::nn::functional::cross_entropy(logits, labels);
  }
  optimizer.zero_grad();
  if (precision_ == Precision::kFp16) {
    if (scaler_.backward(loss, model->parameters())) optimizer.step();
    scaler_.update();
  } else {
    loss.backward();
    optimizer.step();
  }
  return {loss.detach().to(torch::kFloat32), logits.detach()};
}

}  // namespace libtorch_resnet::core
