// SPDX-License-Identifier: MIT
#include "fused_sgd.h"

#include <stdexcept>

#include "../torch_compat.h"

namespace libtorch_resnet::core::cuda {

#if LIBTORCH_RESNET_CUDA

void fused_sgd_step(torch::optim::SGD& optimizer, const torch::Tensor& lr,
                    const std::optional<torch::Tensor>& grad_scale, const std::optional<torch::Tensor>& found_inf) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    std::vector<torch::Tensor> params, grads, buffers;
    for (auto& param : group.params()) {
      params.push_back(param);
      grads.push_back(param.grad());
      if (o.momentum() == 0) continue;
      auto* state = compat::sgd_state(optimizer, param, /*create=*/true);
      // One buffer for the graph to update in place from the first step on; momentum * 0 + grad is the gradient.
      if (!state->momentum_buffer().defined()) state->momentum_buffer(torch::zeros_like(param));
      buffers.push_back(state->momentum_buffer());
    }
    at::_fused_sgd_(params, grads, buffers, o.weight_decay(), o.momentum(), lr, o.dampening(), o.nesterov(),
                    /*maximize=*/false, /*is_first_step=*/false, grad_scale, found_inf);
  }
}

#else

void fused_sgd_step(torch::optim::SGD&, const torch::Tensor&, const std::optional<torch::Tensor>&,
                    const std::optional<torch::Tensor>&) {
  throw std::logic_error("the fused SGD update is not in this build (it was made without LIBTORCH_RESNET_CUDA)");
}

#endif

}  // namespace libtorch_resnet::core::cuda
