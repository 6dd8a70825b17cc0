// SPDX-License-Identifier: MIT
#include "recipe.h"

#include <algorithm>
#include <cmath>

namespace libtorch_resnet::core {

double scheduled_lr(const TrainOptions& o, int64_t t, int64_t steps_per_epoch) {
  const int64_t total = std::max<int64_t>(1, o.epochs * steps_per_epoch);
  const int64_t warmup =
      std::min(total, static_cast<int64_t>(std::llround(o.warmup_epochs * static_cast<double>(steps_per_epoch))));
  if (t < warmup) return o.lr * static_cast<double>(t + 1) / static_cast<double>(warmup);
  const double p = static_cast<double>(t - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  switch (o.scheduler) {
    case Scheduler::kCosine: return o.lr * 0.5 * (1.0 + std::cos(M_PI * p));
    case Scheduler::kOneCycle: return o.lr * (1.0 - p);
    default: return o.lr;
  }
}

void set_lr(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
}

torch::optim::SGDOptions sgd_options(const TrainOptions& o) {
  return torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay).nesterov(o.nesterov);
}

std::vector<torch::optim::OptimizerParamGroup> parameter_groups(const std::vector<torch::Tensor>& parameters,
                                                                const TrainOptions& o) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (o.decay_norm_and_bias) {
    groups.emplace_back(parameters, std::make_unique<torch::optim::SGDOptions>(sgd_options(o)));
    return groups;
  }
  std::vector<torch::Tensor> decayed, exempt;
  for (const auto& p : parameters) (p.dim() > 1 ? decayed : exempt).push_back(p);
  groups.emplace_back(decayed, std::make_unique<torch::optim::SGDOptions>(sgd_options(o)));
  groups.emplace_back(exempt, std::make_unique<torch::optim::SGDOptions>(sgd_options(o).weight_decay(0)));
  return groups;
}

uint64_t batch_seed(uint64_t seed, int64_t epoch, int64_t step, int rank) {
  // splitmix64 over the four numbers, so that neighbouring steps get unrelated streams.
  uint64_t x = seed;
  for (uint64_t v : {static_cast<uint64_t>(epoch), static_cast<uint64_t>(step), static_cast<uint64_t>(rank)}) {
    x += 0x9e3779b97f4a7c15ULL + v;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
  }
  return x;
}

namespace {

// A few host bytes onto `device`. On CUDA they go through page-locked memory so that the copy is queued behind
// the running step: a copy from ordinary memory would first wait for the GPU to finish everything before it,
// once per training step.
torch::Tensor to_device(const torch::Tensor& host, const torch::Device& device) {
  if (!host.defined() || !device.is_cuda()) return host.defined() ? host.to(device) : host;
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

void copy_into(const torch::Tensor& host, torch::Tensor& into) {
  if (!host.defined()) return;
  if (into.is_cuda())
    into.copy_(host.pin_memory(), /*non_blocking=*/true);
  else
    into.copy_(host);
}

}  // namespace

AugmentDraws draw_augmentation(int64_t batch, Augment augment, uint64_t seed) {
  AugmentDraws draws;
  if (augment == Augment::kNone) return draws;
  auto gen = at::detail::createCPUGenerator(seed);
  // The flips first, then the offsets: the order every earlier run drew them in.
  draws.flip = torch::randint(0, 2, {batch}, gen, torch::kInt64);
  if (augment == Augment::kCropFlip) draws.offsets = torch::randint(0, 2 * 4 + 1, {2, batch}, gen, torch::kInt64);
  return draws;
}

AugmentDraws to_device(const AugmentDraws& draws, const torch::Device& device) {
  return AugmentDraws{to_device(draws.flip, device), to_device(draws.offsets, device)};
}

void copy_draws(const AugmentDraws& draws, AugmentDraws& into) {
  copy_into(draws.flip, into.flip);
  copy_into(draws.offsets, into.offsets);
}

torch::Tensor apply_augmentation(const torch::Tensor& images, Augment augment, const AugmentDraws& draws) {
  if (augment == Augment::kNone) return images;
  const int64_t b = images.size(0), side = images.size(3);
  const auto on_device = torch::TensorOptions().dtype(torch::kInt64).device(images.device());
  auto flip = draws.flip.to(torch::kBool).view({b, 1, 1, 1});
  torch::Tensor x = images;
  if (augment == Augment::kCropFlip) {
    namespace F = torch::nn::functional;
    auto padded = F::pad(images, F::PadFuncOptions({4, 4, 4, 4}).mode(torch::kConstant).value(0));
    // One gather picks every image's window: rows r0..r0+31 and columns c0..c0+31 of its padded copy.
    auto span = torch::arange(side, on_device);
    auto rows = (draws.offsets[0].unsqueeze(1) + span).view({b, 1, side, 1});
    auto cols = (draws.offsets[1].unsqueeze(1) + span).view({b, 1, 1, side});
    x = padded.index({torch::arange(b, on_device).view({b, 1, 1, 1}),
                      torch::arange(images.size(1), on_device).view({1, -1, 1, 1}), rows, cols});
  }
  return torch::where(flip, x.flip({3}), x);
}

torch::Tensor augment_batch(const torch::Tensor& images, Augment augment, uint64_t seed) {
  return apply_augmentation(images, augment,
                            to_device(draw_augmentation(images.size(0), augment, seed), images.device()));
}

}  // namespace libtorch_resnet::core
