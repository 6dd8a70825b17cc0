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

// The augmentation `augment` applied to a uint8 [B, 3, 32, 32] batch on its own device, with random numbers
// drawn from `seed` alone (batch_seed gives each step of each rank its own), so that a resume redraws them.
torch::Tensor augment_batch(const torch::Tensor& images, Augment augment, uint64_t seed);

// A seed for one step's augmentation: different for every run seed, epoch, step and rank.
uint64_t batch_seed(uint64_t seed, int64_t epoch, int64_t step, int rank);

}  // namespace libtorch_resnet::core
