// SPDX-License-Identifier: MIT
// The only file that spells JS keys: core structs to JS values and back, one to one (batchSize <-> batch_size).
#pragma once

#include <napi.h>

#include <vector>

#include "../core/benchmark.h"
#include "../core/checkpoint.h"
#include "../core/evaluation.h"
#include "../core/model_export.h"
#include "../core/options.h"
#include "../core/progress.h"
#include "../core/trainer.h"

namespace libtorch_resnet::binding {

// Copies fields from an object lib/config/ has validated; no checks beyond types.
core::TrainOptions to_train_options(const Napi::Object& options);
core::EvalOptions to_eval_options(const Napi::Object& options);
core::PredictOptions to_predict_options(const Napi::Object& options);
core::BenchOptions to_bench_options(const Napi::Object& options);
// [{ width, height, data: Uint8Array of width * height * 3 RGB bytes }], copied.
std::vector<core::Image> to_images(const Napi::Array& images);
core::Preset to_preset(const Napi::Value& value);
core::Augment to_augment(const Napi::Value& value);

// The options a checkpoint records, under their JS names (NativeCheckpointOptions).
Napi::Object to_js(Napi::Env env, const core::TrainOptions& options);
Napi::Object to_js(Napi::Env env, const core::ProgressEvent& event);
Napi::Object to_js(Napi::Env env, const core::TrainResult& result);
Napi::Object to_js(Napi::Env env, const core::EvalResult& result);
Napi::Object to_js(Napi::Env env, const core::PredictResult& result);
Napi::Object to_js(Napi::Env env, const core::Checkpoint& checkpoint);
Napi::Object to_js(Napi::Env env, const core::BenchResult& result);
Napi::Object to_js(Napi::Env env, const core::RuntimeInfo& info);
// { preset, imageSize, classes, mean, std, tensors: [{ name, shape, dtype, data }] } (NativeModel), data copied.
Napi::Object to_js(Napi::Env env, const core::ModelContents& model);

}  // namespace libtorch_resnet::binding
