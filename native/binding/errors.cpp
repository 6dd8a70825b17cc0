// SPDX-License-Identifier: MIT
#include "errors.h"

#include <c10/util/Exception.h>

#include <exception>
#include <filesystem>

#include "../core/failures.h"

namespace libtorch_resnet::binding {

namespace {

const char* file_error_code(core::FileError::Kind kind) {
  switch (kind) {
    case core::FileError::Kind::kDiskFull: return "ERR_DISK_FULL";
    case core::FileError::Kind::kPermission: return "ERR_PERMISSION";
    case core::FileError::Kind::kMissing: return "ERR_FILE_NOT_FOUND";
    default: return "ERR_FILE";
  }
}

}  // namespace

NativeFailure describe_current_exception() {
  try {
    throw;
  } catch (const core::NonFiniteLossError& e) {
    return {"ERR_NON_FINITE_LOSS", e.what()};
  } catch (const core::BusyError& e) {
    return {"ERR_BUSY", e.what()};
  } catch (const core::DistributedError& e) {
    return {"ERR_DISTRIBUTED", e.what()};
  } catch (const core::FileError& e) {
    return {file_error_code(e.kind), e.what()};
  } catch (const core::CheckpointError& e) {
    return {"ERR_CHECKPOINT", e.what()};
  } catch (const core::DataError& e) {
    return {"ERR_DATA", e.what()};
  } catch (const std::filesystem::filesystem_error& e) {
    return {file_error_code(core::FileError::kind_of(e.code().value())), e.what()};
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
