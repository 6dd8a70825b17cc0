// SPDX-License-Identifier: MIT
#include "job_worker.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "convert.h"

namespace libtorch_resnet::binding {

JobWorker::JobWorker(const char* name, const Napi::Function& on_done, const Napi::Function& on_event, Job job,
                     core::StopToken stop)
    : Napi::AsyncProgressQueueWorker<core::ProgressEvent>(on_done, name),
      on_event_(Napi::Persistent(on_event)),
      job_(std::move(job)),
      stop_(std::move(stop)) {}

// Executed on a libuv worker thread: no JS values may be touched here.
void JobWorker::Execute(const ExecutionProgress& progress) {
  try {
    result_ = job_([&progress](const core::ProgressEvent& event) { progress.Send(&event, 1); }, stop_);
  } catch (...) {
    failure_ = describe_current_exception();
  }
#if defined(__GLIBC__)
  // A job frees hundreds of MB (model, optimizer, checkpoint buffers) in this pool thread's malloc arena, which
  // glibc keeps for that thread. Jobs land on different pool threads, so without this a process that trains
  // several times holds one job's peak per thread. Trimming hands the freed memory back to the system.
  malloc_trim(0);
#endif
}

// Executed on the main thread, once per Send, in order.
void JobWorker::OnProgress(const core::ProgressEvent* events, size_t count) {
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
void JobWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (!listener_error_.IsEmpty()) {
    Callback().Call({listener_error_.Value()});
  } else if (failure_) {
    Callback().Call({to_js_error(env, *failure_).Value()});
  } else if (!result_) {
    Callback().Call({to_js_error(env, {"ERR_NATIVE", "the job ended without a result"}).Value()});
  } else {
    Napi::Value value;
    try {
      value = result_(env);
    } catch (const Napi::Error& e) {
      Callback().Call({e.Value()});
      return;
    }
    Callback().Call({env.Null(), value});
  }
}

// Executed on the main thread; only reached if node-addon-api itself reports a failure.
void JobWorker::OnError(const Napi::Error& error) {
  Napi::HandleScope scope(Env());
  Callback().Call({error.Value()});
}

}  // namespace libtorch_resnet::binding
