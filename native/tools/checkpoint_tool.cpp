// SPDX-License-Identifier: MIT
// Reads and rewrites checkpoints with the core alone, so a checkpoint can be checked against another LibTorch:
//   checkpoint_tool inspect FILE       prints one JSON line: LibTorch of the file and of this tool, preset, epochs
//                                      done, and checksums of the weights and momentum buffers
//   checkpoint_tool resave IN OUT      loads IN into a network and an optimizer, saves them as OUT with this
//                                      tool's LibTorch (scripts/check-checkpoint-portability.sh runs both ways)
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "core/checkpoint.h"
#include "core/torch_compat.h"

using namespace libtorch_resnet::core;

namespace {

// Sum of |x| and of x*i over every tensor, in double: equal sums mean equal values (up to rounding of the sums).
std::pair<double, double> checksum(const std::vector<torch::Tensor>& tensors) {
  double abs_sum = 0;
  double weighted = 0;
  for (const auto& t : tensors) {
    auto flat = t.detach().to(torch::kDouble).flatten();
    abs_sum += flat.abs().sum().item<double>();
    weighted += (flat * torch::arange(flat.numel(), flat.options()).remainder(7)).sum().item<double>();
  }
  return {abs_sum, weighted};
}

int inspect(const std::string& path) {
  const Checkpoint c = load_checkpoint(path);
  ResNet34 model(c.options.preset);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(c.options.lr).momentum(c.options.momentum));
  restore(c, model, &optimizer);
  std::vector<torch::Tensor> weights;
  for (const auto& item : model->named_parameters()) weights.push_back(item.value());
  for (const auto& item : model->named_buffers()) weights.push_back(item.value());
  std::vector<torch::Tensor> momentum;
  for (const auto& p : model->parameters()) {
    const auto* state = libtorch_resnet::compat::sgd_state(optimizer, p, /*create=*/false);
    if (state != nullptr) momentum.push_back(state->momentum_buffer());
  }
  const auto [w_abs, w_weighted] = checksum(weights);
  const auto [m_abs, m_weighted] = checksum(momentum);
  std::printf(
      "{\"file\":\"%s\",\"writtenBy\":\"%s\",\"readBy\":\"%s\",\"preset\":\"%s\",\"epochsDone\":%lld,\"step\":%lld,"
      "\"weights\":[%.17g,%.17g],\"momentumBuffers\":%zu,\"momentum\":[%.17g,%.17g]}\n",
      path.c_str(), c.libtorch_version.c_str(), libtorch_resnet::compat::libtorch_version(),
      name_of(c.options.preset), static_cast<long long>(c.state.epochs_done), static_cast<long long>(c.state.step),
      w_abs, w_weighted, momentum.size(), m_abs, m_weighted);
  return 0;
}

int resave(const std::string& in, const std::string& out) {
  const Checkpoint c = load_checkpoint(in);
  ResNet34 model(c.options.preset);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(c.options.lr)
                                                       .momentum(c.options.momentum)
                                                       .weight_decay(c.options.weight_decay));
  restore(c, model, &optimizer);
  save_checkpoint(out, c.options, model, optimizer, c.state);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::strcmp(argv[1], "inspect") == 0) return inspect(argv[2]);
    if (argc == 4 && std::strcmp(argv[1], "resave") == 0) return resave(argv[2], argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: %s inspect FILE | resave IN OUT\n", argv[0]);
  return 2;
}
