// SPDX-License-Identifier: MIT
// Every JS-visible name of the addon, registered in one place.
#include <napi.h>

#include "../core/resnet34.h"
#include "convert.h"
#include "errors.h"
#include "train_worker.h"

namespace libtorch_resnet::binding {

namespace {

// startTraining(options, onEvent, onDone) -> { cancel() }. Returns at once; the job runs on a pool thread.
Napi::Value StartTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  core::StopToken stop;
  auto* worker = new TrainWorker(info[2].As<Napi::Function>(), info[1].As<Napi::Function>(),
                                 to_train_options(info[0].As<Napi::Object>()), stop);
  worker->Queue();
  Napi::Object job = Napi::Object::New(env);
  job.Set("cancel", Napi::Function::New(env, [stop](const Napi::CallbackInfo&) { stop.request(); }, "cancel"));
  return job;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  return translate_exceptions(info.Env(), [&] { return to_js(info.Env(), core::runtime_info()); });
}

// parameterCount(preset) -> number, from a network built on the CPU.
Napi::Value ParameterCount(const Napi::CallbackInfo& info) {
  return translate_exceptions(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(core::count_parameters(to_preset(info[0]))));
  });
}

// stateDictShapes(preset) -> { key: shape }, named as PyTorch's state_dict() names them.
Napi::Value StateDictShapes(const Napi::CallbackInfo& info) {
  return translate_exceptions(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object shapes = Napi::Object::New(env);
    for (const auto& [key, sizes] : core::state_dict_shapes(to_preset(info[0]))) {
      Napi::Array shape = Napi::Array::New(env, sizes.size());
      for (size_t i = 0; i < sizes.size(); ++i) shape.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
      shapes.Set(key, shape);
    }
    return shapes;
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("startTraining", Napi::Function::New(env, StartTraining, "startTraining"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("parameterCount", Napi::Function::New(env, ParameterCount, "parameterCount"));
  exports.Set("stateDictShapes", Napi::Function::New(env, StateDictShapes, "stateDictShapes"));
  return exports;
}

}  // namespace

}  // namespace libtorch_resnet::binding

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return libtorch_resnet::binding::Init(env, exports);
}

NODE_API_MODULE(libtorch_resnet, InitAddon)
