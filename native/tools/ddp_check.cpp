// SPDX-License-Identifier: MIT
// Checks that a data-parallel step is the single-process step it stands for. Run as every rank of a job, with
// torchrun's variables set (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT):
//   ddp_check [--steps K] [--batch-size B] [--threads N] [--tolerance T] [--memory-format contiguous|channels-last]
// Each rank builds the cifar-preset network from the same seed and draws the same global batch of B * WORLD_SIZE
// generated images, then takes K SGD steps (momentum, weight decay) twice: once alone on the whole batch, the
// reference, and once on its own shard with GradientReducer averaging the gradients, as train() does.
// BatchNorm runs in eval mode (fixed statistics) for both: in train mode a shard is normalised with its own batch
// statistics, so its gradients are not a part of the whole batch's, in DDP as here (there is no SyncBatchNorm).
// Prints the largest weight difference and a checksum of the weights; exits 1 when the difference is above T.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "core/cifar10_dataset.h"
#include "core/compute_mode.h"
#include "core/distributed.h"
#include "core/resnet34.h"
#include "core/runtime.h"

using namespace libtorch_resnet::core;

namespace {

ResNet34 seeded_network() {
  torch::manual_seed(1);
  ResNet34 model(Preset::kCifar);
  model->eval();
  return model;
}

torch::optim::SGD sgd_for(ResNet34& model) {
  return torch::optim::SGD(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-3));
}

}  // namespace

int main(int argc, char** argv) {
  int64_t steps = 3, batch = 8;
  int threads = 0;
  double tolerance = 1e-5;
  MemoryFormat format = MemoryFormat::kContiguous;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--steps") steps = std::atoll(argv[i + 1]);
    else if (flag == "--batch-size") batch = std::atoll(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--tolerance") tolerance = std::atof(argv[i + 1]);
    else if (flag == "--memory-format" && from_name<MemoryFormat>(argv[i + 1])) format = *from_name<MemoryFormat>(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag: %s\n", argv[i]);
      return 2;
    }
  }
  try {
    auto distributed = distributed_from_env();
    if (!distributed) {
      std::fprintf(stderr, "error: set WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT (run it under a launcher)\n");
      return 2;
    }
    use_cpu_threads(threads);
    const torch::Device cpu(torch::kCPU);
    C10dCommunicator communicator(*distributed, cpu);
    const int rank = communicator.rank(), world = communicator.world_size();
    ComputeMode mode(Precision::kFp32, format, cpu);

    auto reference = seeded_network();
    auto replica = seeded_network();
    mode.prepare(reference);
    mode.prepare(replica);
    auto reference_sgd = sgd_for(reference);
    auto replica_sgd = sgd_for(replica);
    GradientReducer reducer(communicator, replica->parameters());

    auto gen = at::detail::createCPUGenerator(7);
    double first_loss = 0;
    for (int64_t step = 0; step < steps; ++step) {
      auto images = torch::randn({batch * world, 3, 32, 32}, gen);
      if (mode.channels_last()) images = images.contiguous(at::MemoryFormat::ChannelsLast);
      auto labels = torch::randint(0, kNumClasses, {batch * world}, gen, torch::kInt64);
      const auto [loss, logits] = mode.sgd_step(reference, reference_sgd, images, labels);
      if (step == 0) first_loss = loss.item<double>();
      auto shard = torch::arange(rank * batch, (rank + 1) * batch, torch::kInt64);
      mode.sgd_step(replica, replica_sgd, images.index_select(0, shard), labels.index_select(0, shard), &reducer);
    }

    double max_difference = 0, moved = 0, checksum = 0;
    auto initial = seeded_network();
    const auto ref = reference->parameters(), rep = replica->parameters(), init = initial->parameters();
    for (size_t i = 0; i < ref.size(); ++i) {
      max_difference = std::max(max_difference, (ref[i] - rep[i]).abs().max().item<double>());
      moved = std::max(moved, (ref[i] - init[i]).abs().max().item<double>());
      checksum += rep[i].to(torch::kDouble).sum().item<double>();
    }
    std::printf("rank %d of %d: %lld steps, batch %lld per rank, first loss %.6f, largest weight change %.6g, "
                "largest difference from the single-process steps %.3g, checksum %.17g, buckets %lld\n",
                rank, world, static_cast<long long>(steps), static_cast<long long>(batch), first_loss, moved,
                max_difference, checksum, static_cast<long long>(reducer.buckets()));
    return max_difference <= tolerance ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
