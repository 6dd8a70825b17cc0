// SPDX-License-Identifier: MIT
// The only file that spells JS keys: core structs to JS values and back, one to one (batchSize <-> batch_size).
#pragma once

#include <napi.h>

#include "../core/options.h"
#include "../core/progress.h"
#include "../core/trainer.h"

namespace libtorch_resnet::binding {

// Copies fields from an object lib/config.ts has validated; no checks beyond types.
core::TrainOptions to_train_options(const Napi::Object& options);
core::Preset to_preset(const Napi::Value& value);

Napi::Object to_js(Napi::Env env, const core::ProgressEvent& event);
Napi::Object to_js(Napi::Env env, const core::TrainResult& result);
Napi::Object to_js(Napi::Env env, const core::RuntimeInfo& info);

}  // namespace libtorch_resnet::binding
