// SPDX-License-Identifier: MIT
// One training job on a libuv pool thread, streaming core::ProgressEvent to JS in order (the Queue variant
// never merges two Sends, so no epoch event is lost).
#pragma once

#include <napi.h>

#include <optional>

#include "../core/trainer.h"
#include "errors.h"

namespace libtorch_resnet::binding {

class TrainWorker : public Napi::AsyncProgressQueueWorker<core::ProgressEvent> {
 public:
  TrainWorker(const Napi::Function& on_done, const Napi::Function& on_event, core::TrainOptions options,
              core::StopToken stop);

  void Execute(const ExecutionProgress& progress) override;
  void OnProgress(const core::ProgressEvent* events, size_t count) override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::FunctionReference on_event_;
  const core::TrainOptions options_;
  const core::StopToken stop_;
  core::TrainResult result_;
  std::optional<NativeFailure> failure_;
  // An exception thrown by the JS event listener; it stops the run and becomes its outcome.
  Napi::Reference<Napi::Value> listener_error_;
};

}  // namespace libtorch_resnet::binding
