// SPDX-License-Identifier: MIT
// Every JS-visible name of the addon, registered in one place.
#include <napi.h>
#include <torch/version.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "../core/cifar10_dataset.h"
#include "../core/recipe.h"
#include "../core/resnet34.h"
#include "convert.h"
#include "errors.h"
#include "job_worker.h"

// Both builds define the LibTorch library folder they linked against (CMakeLists.txt, find-libtorch.js --defines).
#ifndef LIBTORCH_RESNET_LIB_DIR
#define LIBTORCH_RESNET_LIB_DIR ""
#endif

// The LibTorch this binary was built against, as text inside the .node file. When loading the addon fails (its
// LibTorch moved or was removed, so the dynamic loader cannot resolve libc10.so), lib/native.ts reads it from the
// file's bytes to say which LibTorch is missing and where it was. `used` keeps it in the binary.
extern "C" __attribute__((used)) const char libtorch_resnet_build_info[] =
    "@@LIBTORCH_RESNET_BUILD{\"libtorch\":\"" TORCH_VERSION "\",\"libDir\":\"" LIBTORCH_RESNET_LIB_DIR "\"}@@";

namespace libtorch_resnet::binding {

namespace {

// Queues `job` on a pool thread and returns { cancel() } at once; onDone(error, result) settles it.
Napi::Value start_job(const Napi::CallbackInfo& info, const char* name, const Napi::Function& on_event,
                      const Napi::Function& on_done, JobWorker::Job job, const core::StopToken& stop) {
  Napi::Env env = info.Env();
  auto* worker = new JobWorker(name, on_done, on_event, std::move(job), stop);
  worker->Queue();
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("cancel", Napi::Function::New(env, [stop](const Napi::CallbackInfo&) { stop.request(); }, "cancel"));
  return handle;
}

// startTraining(options, onEvent, onDone) -> { cancel() }.
Napi::Value StartTraining(const Napi::CallbackInfo& info) {
  core::StopToken stop;
  auto options = to_train_options(info[0].As<Napi::Object>());
  return start_job(info, "libtorch-resnet:train", info[1].As<Napi::Function>(), info[2].As<Napi::Function>(),
                   [options](const core::ProgressFn& on_progress, const core::StopToken& stop) -> JobWorker::ToJs {
                     auto result = core::train(options, on_progress, stop);
                     return [result](Napi::Env env) { return to_js(env, result); };
                   },
                   stop);
}

// startEvaluation(options, onEvent, onDone) -> { cancel() }.
Napi::Value StartEvaluation(const Napi::CallbackInfo& info) {
  core::StopToken stop;
  auto options = to_eval_options(info[0].As<Napi::Object>());
  return start_job(info, "libtorch-resnet:evaluate", info[1].As<Napi::Function>(), info[2].As<Napi::Function>(),
                   [options](const core::ProgressFn& on_progress, const core::StopToken& stop) -> JobWorker::ToJs {
                     auto result = core::evaluate(options, on_progress, stop);
                     return [result](Napi::Env env) { return to_js(env, result); };
                   },
                   stop);
}

// startPrediction(options, images, onEvent, onDone) -> { cancel() }. The images are copied before it returns.
Napi::Value StartPrediction(const Napi::CallbackInfo& info) {
  core::StopToken stop;
  auto options = to_predict_options(info[0].As<Napi::Object>());
  auto images = std::make_shared<std::vector<core::Image>>(to_images(info[1].As<Napi::Array>()));
  return start_job(info, "libtorch-resnet:predict", info[2].As<Napi::Function>(), info[3].As<Napi::Function>(),
                   [options, images](const core::ProgressFn&, const core::StopToken&) -> JobWorker::ToJs {
                     auto result = core::predict(options, *images);
                     return [result](Napi::Env env) { return to_js(env, result); };
                   },
                   stop);
}

// startBenchmark(options, onEvent, onDone) -> { cancel() }.
Napi::Value StartBenchmark(const Napi::CallbackInfo& info) {
  core::StopToken stop;
  auto options = to_bench_options(info[0].As<Napi::Object>());
  return start_job(info, "libtorch-resnet:benchmark", info[1].As<Napi::Function>(), info[2].As<Napi::Function>(),
                   [options](const core::ProgressFn&, const core::StopToken& stop) -> JobWorker::ToJs {
                     auto result = core::benchmark(options, stop);
                     return [result](Napi::Env env) { return to_js(env, result); };
                   },
                   stop);
}

// readCheckpoint(path, onDone): the options, position and history a checkpoint holds, read off the JS thread.
Napi::Value ReadCheckpoint(const Napi::CallbackInfo& info) {
  core::StopToken stop;
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Function no_events = Napi::Function::New(info.Env(), [](const Napi::CallbackInfo&) {});
  return start_job(info, "libtorch-resnet:read-checkpoint", no_events, info[1].As<Napi::Function>(),
                   [path](const core::ProgressFn&, const core::StopToken&) -> JobWorker::ToJs {
                     auto checkpoint = std::make_shared<core::Checkpoint>(core::load_checkpoint(path));
                     // Only metadata crosses to JS; the tensors are dropped with the checkpoint.
                     checkpoint->model = c10::Dict<std::string, torch::Tensor>();
                     checkpoint->momentum = c10::Dict<int64_t, torch::Tensor>();
                     return [checkpoint](Napi::Env env) { return to_js(env, *checkpoint); };
                   },
                   stop);
}

// readModel(path, onDone): a checkpoint or weights file's network as plain data, for export, read off the JS thread.
Napi::Value ReadModel(const Napi::CallbackInfo& info) {
  core::StopToken stop;
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Function no_events = Napi::Function::New(info.Env(), [](const Napi::CallbackInfo&) {});
  return start_job(info, "libtorch-resnet:read-model", no_events, info[1].As<Napi::Function>(),
                   [path](const core::ProgressFn&, const core::StopToken&) -> JobWorker::ToJs {
                     auto model = std::make_shared<core::ModelContents>(core::read_model(path));
                     return [model](Napi::Env env) { return to_js(env, *model); };
                   },
                   stop);
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

// presetOptions(preset) -> the options train() starts from for the preset (its recipe), as a checkpoint records
// them: what test/native/recipe.test.ts holds lib/config/presets.ts's table against.
Napi::Value PresetOptions(const Napi::CallbackInfo& info) {
  return translate_exceptions(info.Env(), [&]() -> Napi::Value {
    return to_js(info.Env(), core::options_for(to_preset(info[0])));
  });
}

// forwardFlops(preset, imageSize) -> model FLOPs of one image's forward pass.
Napi::Value ForwardFlops(const Napi::CallbackInfo& info) {
  return translate_exceptions(info.Env(), [&]() -> Napi::Value {
    const auto size = info[1].As<Napi::Number>().Int64Value();
    return Napi::Number::New(info.Env(), core::forward_flops(to_preset(info[0]), size));
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

// augmentBatch(records: Uint8Array of count * 3 * 32 * 32 bytes, count, augment, seed) -> Uint8Array: the
// training augmentation of `count` CIFAR images (planes R, G, B each), as a step drawn from `seed` applies it.
Napi::Value AugmentBatch(const Napi::CallbackInfo& info) {
  return translate_exceptions(info.Env(), [&]() -> Napi::Value {
    auto records = info[0].As<Napi::Uint8Array>();
    const int64_t count = info[1].As<Napi::Number>().Int64Value();
    const int64_t bytes = count * 3 * core::kImageSide * core::kImageSide;
    if (count < 0 || static_cast<int64_t>(records.ByteLength()) != bytes)
      throw std::invalid_argument("augmentBatch: expected " + std::to_string(bytes) + " bytes for " +
                                  std::to_string(count) + " images");
    auto images = torch::from_blob(records.Data(), {count, 3, core::kImageSide, core::kImageSide}, torch::kUInt8);
    const auto seed = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
    auto out = core::augment_batch(images, to_augment(info[2]), seed).contiguous();
    auto result = Napi::Uint8Array::New(info.Env(), static_cast<size_t>(bytes));
    std::memcpy(result.Data(), out.data_ptr<uint8_t>(), static_cast<size_t>(bytes));
    return result;
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("startTraining", Napi::Function::New(env, StartTraining, "startTraining"));
  exports.Set("startEvaluation", Napi::Function::New(env, StartEvaluation, "startEvaluation"));
  exports.Set("startPrediction", Napi::Function::New(env, StartPrediction, "startPrediction"));
  exports.Set("startBenchmark", Napi::Function::New(env, StartBenchmark, "startBenchmark"));
  exports.Set("readCheckpoint", Napi::Function::New(env, ReadCheckpoint, "readCheckpoint"));
  exports.Set("readModel", Napi::Function::New(env, ReadModel, "readModel"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("parameterCount", Napi::Function::New(env, ParameterCount, "parameterCount"));
  exports.Set("presetOptions", Napi::Function::New(env, PresetOptions, "presetOptions"));
  exports.Set("forwardFlops", Napi::Function::New(env, ForwardFlops, "forwardFlops"));
  exports.Set("stateDictShapes", Napi::Function::New(env, StateDictShapes, "stateDictShapes"));
  exports.Set("augmentBatch", Napi::Function::New(env, AugmentBatch, "augmentBatch"));
  return exports;
}

}  // namespace

}  // namespace libtorch_resnet::binding

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return libtorch_resnet::binding::Init(env, exports);
}

NODE_API_MODULE(libtorch_resnet, InitAddon)
