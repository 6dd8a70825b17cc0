// SPDX-License-Identifier: MIT
// What the training loop reports while it runs, and how it is told to stop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace libtorch_resnet::core {

// kStep comes after every training step and reads nothing back from the device (epoch, step and the epoch's
// seconds so far, as the host sees them), so a progress bar moves every step; kBatchEnd, with loss and accuracy,
// every log_every steps.
enum class EventType { kTrainBegin, kEpochBegin, kStep, kBatchEnd, kEvalBegin, kEpochEnd, kCheckpoint, kTrainEnd };

// How a job ended when it did not throw.
enum class Status { kCompleted, kCancelled };

// Which data a step or an evaluation belongs to.
enum class Phase { kTrain, kValid, kTest };

// Plain data, copied across threads. Fields not meaningful for a type are left at zero.
struct ProgressEvent {
  EventType type = EventType::kBatchEnd;
  Phase phase = Phase::kTrain;
  int64_t epoch = 0;  // 1-based
  int64_t epochs = 0;
  int64_t step = 0;  // 1-based within the epoch
  int64_t steps_per_epoch = 0;
  int64_t samples = 0;  // records in the split being trained on or evaluated
  double loss = 0;  // batchEnd: mean loss over the steps since the last batchEnd; epochEnd: epoch mean
  // batchEnd: training accuracy over the steps since the last batchEnd; epochEnd: validation accuracy;
  // trainEnd: test accuracy
  double accuracy = 0;
  double images_per_second = 0;
  // step: the epoch's training time so far (the host's: on a GPU it runs ahead of the device by the queued work);
  // epochEnd: the epoch's training time; trainEnd: the whole run
  double seconds = 0;
  double valid_seconds = 0;  // epochEnd: the epoch's validation pass
  // trainBegin only.
  int64_t train_size = 0;
  int64_t valid_size = 0;
  int64_t test_size = 0;
  int64_t parameters = 0;
  int threads = 0;
  std::string device;
  // trainBegin: epochs already done and steps of the next one already taken when resuming (else 0).
  int64_t start_epoch = 0;
  int64_t start_step = 0;
  // trainBegin: the processes training together (1 when not distributed) and this one's rank.
  int world_size = 1;
  int rank = 0;
  // batchEnd, only when distributed.check_replicas is set: a checksum of the weights after the step, the same
  // on every rank.
  double weights_checksum = 0;
  // batchEnd: the learning rate of the step just taken.
  double lr = 0;
  // checkpoint: the file written; `epoch` and `step` say where the run stood.
  std::string path;
};

inline const char* event_type_name(EventType type) {
  switch (type) {
    case EventType::kTrainBegin: return "trainBegin";
    case EventType::kStep: return "step";
    case EventType::kEpochBegin: return "epochBegin";
    case EventType::kBatchEnd: return "batchEnd";
    case EventType::kEvalBegin: return "evalBegin";
    case EventType::kEpochEnd: return "epochEnd";
    case EventType::kCheckpoint: return "checkpoint";
    case EventType::kTrainEnd: return "trainEnd";
  }
  return "unknown";
}

inline const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kTrain: return "train";
    case Phase::kValid: return "valid";
    case Phase::kTest: return "test";
  }
  return "unknown";
}

using ProgressFn = std::function<void(const ProgressEvent&)>;

// Shared between whoever may cancel (another thread) and the loop, which polls it before every step.
class StopToken {
 public:
  StopToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void request() const { flag_->store(true, std::memory_order_relaxed); }
  bool requested() const { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace libtorch_resnet::core
