// SPDX-License-Identifier: MIT
#include "train_worker.h"

#include "convert.h"

namespace libtorch_resnet::binding {

TrainWorker::TrainWorker(const Napi::Function& on_done, const Napi::Function& on_event, core::TrainOptions options,
                         core::StopToken stop)
    : Napi::AsyncProgressQueueWorker<core::ProgressEvent>(on_done, "libtorch-resnet:train"),
      on_event_(Napi::Persistent(on_event)),
      options_(std::move(options)),
      stop_(std::move(stop)) {}

// Executed on a libuv worker thread: no JS values may be touched here.
void TrainWorker::Execute(const ExecutionProgress& progress) {
  try {
    result_ = core::train(
        options_, [&progress](const core::ProgressEvent& event) { progress.Send(&event, 1); }, stop_);
  } catch (...) {
    failure_ = describe_current_exception();
  }
}

// Executed on the main thread, once per Send, in order.
void TrainWorker::OnProgress(const core::ProgressEvent* events, size_t count) {
  if (!listener_error_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  for (size_t i = 0; i < count; ++i) {
    try {
      on_event_.Call({to_js(env, events[i])});
    } catch (const Napi::Error& e) {
      listener_error_ = Napi::Persistent(e.Value().As<Napi::Value>());
      stop_.request();
      return;
    }
  }
}

// Executed on the main thread after Execute returned and every queued event was delivered.
void TrainWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (!listener_error_.IsEmpty()) {
    Callback().Call({listener_error_.Value()});
  } else if (failure_) {
    Callback().Call({to_js_error(env, *failure_).Value()});
  } else {
    Callback().Call({env.Null(), to_js(env, result_)});
  }
}

// Executed on the main thread; only reached if node-addon-api itself reports a failure.
void TrainWorker::OnError(const Napi::Error& error) {
  Napi::HandleScope scope(Env());
  Callback().Call({error.Value()});
}

}  // namespace libtorch_resnet::binding
