// SPDX-License-Identifier: MIT
// A small command line around core/, for debugging and profiling the training loop without Node. It trains what
// `libtorch-resnet train` trains with the same flags: the preset's recipe, then the flags' changes.
//   train_main DATA_DIR [--preset article|cifar] [--epochs N] [--batch-size N] [--lr X] [--image-size N]
//              [--device D] [--threads N] [--limit-train N] [--limit-test N] [--log-every N]
//              [--checkpoint-dir DIR] [--resume FILE] [--backend auto|gloo|nccl] [--check-replicas 1]
//              [--timeout SECONDS] [--cuda-graph auto|on|off]
// With torchrun's variables set (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) it is one rank of a
// distributed run.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "core/distributed.h"
#include "core/trainer.h"

using namespace libtorch_resnet::core;

// The preset the flags name (the last --preset), whose recipe the other flags then change.
Preset preset_of(int argc, char** argv) {
  Preset preset = Preset::kArticle;
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::strcmp(argv[i], "--preset") == 0 && from_name<Preset>(argv[i + 1])) preset = *from_name<Preset>(argv[i + 1]);
  return preset;
}

// Reads the flags after DATA_DIR into `o`, which holds the preset's recipe (options_for); false (after saying
// why) on an unknown flag or value. A warm-up left out fits the run's epochs, as train() in Node does.
bool parse_flags(int argc, char** argv, TrainOptions& o) {
  bool warmup_set = false;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--preset" && from_name<Preset>(value)) {
      // Read first, by preset_of.
    } else if (flag == "--epochs") {
      o.epochs = std::atoll(value);
    } else if (flag == "--batch-size") {
      o.batch_size = std::atoll(value);
    } else if (flag == "--lr") {
      o.lr = std::atof(value);
    } else if (flag == "--momentum") {
      o.momentum = std::atof(value);
    } else if (flag == "--weight-decay") {
      o.weight_decay = std::atof(value);
    } else if (flag == "--valid-split") {
      o.valid_split = std::atof(value);
    } else if (flag == "--decay-norm-and-bias") {
      o.decay_norm_and_bias = std::atoi(value) != 0;
    } else if (flag == "--nesterov") {
      o.nesterov = std::atoi(value) != 0;
    } else if (flag == "--scheduler" && from_name<Scheduler>(value)) {
      o.scheduler = *from_name<Scheduler>(value);
    } else if (flag == "--warmup-epochs") {
      o.warmup_epochs = std::atof(value);
      warmup_set = true;
    } else if (flag == "--label-smoothing") {
      o.label_smoothing = std::atof(value);
    } else if (flag == "--augment" && from_name<Augment>(value)) {
      o.augment = *from_name<Augment>(value);
    } else if (flag == "--flip-tta") {
      o.flip_tta = std::atoi(value) != 0;
    } else if (flag == "--image-size") {
      o.image_size = std::atoll(value);
    } else if (flag == "--device") {
      o.device = value;
    } else if (flag == "--threads") {
      o.threads = std::atoi(value);
    } else if (flag == "--limit-train") {
      o.limit_train = std::atoll(value);
    } else if (flag == "--limit-test") {
      o.limit_test = std::atoll(value);
    } else if (flag == "--log-every") {
      o.log_every = std::atoll(value);
    } else if (flag == "--precision" && from_name<Precision>(value)) {
      o.precision = *from_name<Precision>(value);
    } else if (flag == "--memory-format" && from_name<MemoryFormat>(value)) {
      o.memory_format = *from_name<MemoryFormat>(value);
    } else if (flag == "--cuda-graph" && from_name<CudaGraph>(value)) {
      o.cuda_graph = *from_name<CudaGraph>(value);
    } else if (flag == "--checkpoint-dir") {
      o.checkpoint_dir = value;
    } else if (flag == "--resume") {
      o.resume_from = value;
    } else if (flag == "--backend" && from_name<Backend>(value)) {
      o.distributed.backend = *from_name<Backend>(value);
    } else if (flag == "--timeout") {
      o.distributed.timeout_seconds = std::atof(value);
    } else if (flag == "--check-replicas") {
      o.distributed.check_replicas = std::atoi(value) != 0;
    } else {
      std::fprintf(stderr, "unknown flag or value: %s %s\n", flag.c_str(), value);
      return false;
    }
  }
  if (!warmup_set) o.warmup_epochs = default_warmup_epochs(o.preset, o.epochs);
  return true;
}

void print_event(const ProgressEvent& e) {
  switch (e.type) {
    case EventType::kTrainBegin:
      std::printf("rank %d of %d, device %s, %d threads, %lld parameters, %lld train / %lld valid / %lld test\n",
                  e.rank, e.world_size, e.device.c_str(), e.threads, static_cast<long long>(e.parameters), static_cast<long long>(e.train_size),
                  static_cast<long long>(e.valid_size), static_cast<long long>(e.test_size));
      break;
    case EventType::kBatchEnd:
      std::printf("epoch %lld step %lld/%lld loss %.4f %.1f img/s", static_cast<long long>(e.epoch),
                  static_cast<long long>(e.step), static_cast<long long>(e.steps_per_epoch), e.loss,
                  e.images_per_second);
      if (e.weights_checksum != 0) std::printf(" weights %.17g", e.weights_checksum);
      std::printf("\n");
      break;
    case EventType::kEpochEnd:
      std::printf("epoch %lld: loss %.4f, valid %.2f%%, %.1f s, %.1f img/s\n", static_cast<long long>(e.epoch),
                  e.loss, 100 * e.accuracy, e.seconds, e.images_per_second);
      break;
    case EventType::kCheckpoint:
      std::printf("checkpoint %s\n", e.path.c_str());
      break;
    case EventType::kTrainEnd:
      std::printf("test accuracy %.2f%% after %.1f s\n", 100 * e.accuracy, e.seconds);
      break;
    default:
      break;
  }
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: %s DATA_DIR [--preset article|cifar] [--epochs N] [--batch-size N] ...\n", argv[0]);
    return 2;
  }
  // The recipe the preset names, as `libtorch-resnet train --preset` starts from; the flags change it.
  TrainOptions o = options_for(preset_of(argc, argv));
  o.data_dir = argv[1];
  try {
    if (auto distributed = distributed_from_env()) o.distributed = *distributed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  if (!parse_flags(argc, argv, o)) return 2;

  try {
    train(o, print_event, StopToken());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
