// SPDX-License-Identifier: MIT
// One training step, shared by the training loop and the benchmark so that both time the same work.
#pragma once

#include <torch/torch.h>

#include "resnet34.h"

namespace libtorch_resnet::core {

struct StepOutput {
  torch::Tensor loss;  // mean cross-entropy of the batch, detached, on the device
  torch::Tensor logits;  // detached
};

// Forward, cross-entropy, backward, SGD update. Nothing is read back to the host.
inline StepOutput sgd_step(ResNet34& model, torch::optim::SGD& optimizer, const torch::Tensor& images,
                           const torch::Tensor& labels) {
  auto logits = model->forward(images);
  auto loss = torch::nn::functional::cross_entropy(logits, labels);
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
  return {loss.detach(), logits.detach()};
}

}  // namespace libtorch_resnet::core
