// SPDX-License-Identifier: MIT
// The parts of a training recipe beyond the article's plain SGD: the learning-rate schedule, the augmentation of
// training batches, and which parameters weight decay reaches. Pure functions of the options, so that a resumed
// or distributed run recomputes exactly what an unstopped single process would.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "options.h"

namespace libtorch_resnet::core {

// The learning rate of the run's step `t` (0-based, counted over all epochs) with `steps_per_epoch` steps per
// epoch. W = round(warmup_epochs * steps_per_epoch) warm-up steps rise linearly to lr: lr * (t + 1) / W. After
// them, with p = (t - W) / (T - W) over the run's T = epochs * steps_per_epoch steps:
//   constant: lr;   cosine: lr * (1 + cos(pi * p)) / 2;   onecycle: lr * (1 - p), falling linearly to 0.
double scheduled_lr(const TrainOptions& options, int64_t t, int64_t steps_per_epoch);

// Sets every parameter group's learning rate.
void set_lr(torch::optim::SGD& optimizer, double lr);

// SGD over the model's parameters: one group, or with decay_norm_and_bias false two, the second (every 1-D
// parameter: BatchNorm weights and biases, all biases) without weight decay.
std::vector<torch::optim::OptimizerParamGroup> parameter_groups(const std::vector<torch::Tensor>& parameters,
                                                                const TrainOptions& options);
torch::optim::SGDOptions sgd_options(const TrainOptions& options);

// The random part of a batch's augmentation: per image a flip (0 or 1) and, for kCropFlip, where its 32x32 window
// starts (row, column; 0..8) in the image padded by 4 pixels. int64 [B] and [2, B]; undefined when not drawn.
struct AugmentDraws {
  torch::Tensor flip;
  torch::Tensor offsets;
};

// Draws for a batch of `batch` images on the host, from `seed` alone (batch_seed gives each step of each rank its
// own), so that any device, a resume and a redraw all get the same ones.
AugmentDraws draw_augmentation(int64_t batch, Augment augment, uint64_t seed);

// Host draws on `device`; on CUDA through page-locked memory, so that the copy queues behind the running step
// instead of waiting for it.
AugmentDraws to_device(const AugmentDraws& draws, const torch::Device& device);

// Host draws into `into`'s tensors (same shapes, any device), in place, the same way.
void copy_draws(const AugmentDraws& draws, AugmentDraws& into);

// `augment` applied to a uint8 [B, 3, 32, 32] batch with draws on the batch's device.
torch::Tensor apply_augmentation(const torch::Tensor& images, Augment augment, const AugmentDraws& draws);

// draw_augmentation, then apply_augmentation on the batch's device.
torch::Tensor augment_batch(const torch::Tensor& images, Augment augment, uint64_t seed);

// A seed for one step's augmentation: different for every run seed, epoch, step and rank.
uint64_t batch_seed(uint64_t seed, int64_t epoch, int64_t step, int rank);

}  // namespace libtorch_resnet::core
