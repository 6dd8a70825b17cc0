// SPDX-License-Identifier: MIT
#include "errors.h"

#include <c10/util/Exception.h>

#include <exception>

#include "../core/failures.h"

namespace libtorch_resnet::binding {

NativeFailure describe_current_exception() {
  try {
    throw;
  } catch (const core::NonFiniteLossError& e) {
    return {"ERR_NON_FINITE_LOSS", e.what()};
  } catch (const core::BusyError& e) {
    return {"ERR_BUSY", e.what()};
  } catch (const core::DistributedError& e) {
    return {"ERR_DISTRIBUTED", e.what()};
  } catch (const c10::OutOfMemoryError& e) {
    return {"ERR_TORCH_OOM", std::string(e.what_without_backtrace()) + " (out of memory: try a smaller batchSize)"};
  } catch (const c10::Error& e) {
    return {"ERR_TORCH", e.what_without_backtrace()};
  } catch (const std::exception& e) {
    return {"ERR_NATIVE", e.what()};
  } catch (...) {
    return {"ERR_NATIVE", "unknown native exception"};
  }
}

Napi::Error to_js_error(Napi::Env env, const NativeFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("code", Napi::String::New(env, failure.code));
  return error;
}

}  // namespace libtorch_resnet::binding
