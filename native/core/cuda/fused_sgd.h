// SPDX-License-Identifier: MIT
// The SGD update as a CUDA graph can hold it: one fused kernel per parameter group (at::_fused_sgd_), the learning
// rate read from a tensor on the GPU, nothing read back to the host. Real where LIBTORCH_RESNET_CUDA is defined
// (a CUDA LibTorch 2.4 or newer); elsewhere it throws, and nothing calls it.
#pragma once

#include <torch/torch.h>

#include <optional>

namespace libtorch_resnet::core::cuda {

// The same update as sgd_multi_tensor_step (weight decay, momentum, Nesterov, per group) with the rate from `lr`
// (float32, on the device). With `grad_scale` and `found_inf` (fp16's loss scaling) the kernel divides the
// gradients by the scale and skips the update when found_inf is set. Momentum buffers the optimizer lacks start
// as zeros, which gives the first step's momentum as the gradient itself, as a new buffer would (no dampening).
void fused_sgd_step(torch::optim::SGD& optimizer, const torch::Tensor& lr,
                    const std::optional<torch::Tensor>& grad_scale, const std::optional<torch::Tensor>& found_inf);

}  // namespace libtorch_resnet::core::cuda
