// SPDX-License-Identifier: MIT
// One core job (train, evaluate, predict) on a libuv pool thread, streaming core::ProgressEvent to JS in order
// (the Queue variant never merges two Sends, so no epoch event is lost) and ending with one result.
#pragma once

#include <napi.h>

#include <functional>
#include <optional>

#include "../core/progress.h"
#include "errors.h"

namespace libtorch_resnet::binding {

class JobWorker : public Napi::AsyncProgressQueueWorker<core::ProgressEvent> {
 public:
  // Made on the pool thread from the core's result; called on the main thread to build the JS result.
  using ToJs = std::function<Napi::Value(Napi::Env)>;
  // Runs on the pool thread: touches no JS value, only the core.
  using Job = std::function<ToJs(const core::ProgressFn& on_progress, const core::StopToken& stop)>;

  JobWorker(const char* name, const Napi::Function& on_done, const Napi::Function& on_event, Job job,
            core::StopToken stop);

  void Execute(const ExecutionProgress& progress) override;
  void OnProgress(const core::ProgressEvent* events, size_t count) override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::FunctionReference on_event_;
  Job job_;
  const core::StopToken stop_;
  ToJs result_;
  std::optional<NativeFailure> failure_;
  // An exception thrown by the JS event listener; it stops the job and becomes its outcome.
  Napi::Reference<Napi::Value> listener_error_;
};

}  // namespace libtorch_resnet::binding
