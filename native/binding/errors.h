// SPDX-License-Identifier: MIT
// Turns whatever a native call threw into a code and a readable message, and those into a JS Error.
#pragma once

#include <napi.h>

#include <string>

namespace libtorch_resnet::binding {

struct NativeFailure {
  // ERR_TORCH_OOM, ERR_TORCH or ERR_NATIVE.
  std::string code;
  // The message without LibTorch's C++ backtrace.
  std::string message;
};

// Call only inside a catch block: classifies std::current_exception(), most specific first.
NativeFailure describe_current_exception();

// Main thread only.
Napi::Error to_js_error(Napi::Env env, const NativeFailure& failure);

// Runs a synchronous binding call, turning any native exception into a JS Error with a code.
template <typename Fn>
auto translate_exceptions(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw to_js_error(env, describe_current_exception());
  }
}

}  // namespace libtorch_resnet::binding
