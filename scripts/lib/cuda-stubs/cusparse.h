// SPDX-License-Identifier: MIT
// Declaration stub for scripts/check-cuda.sh, used only when the CUDA toolkit has no cusparse.h (this machine's
// /usr/local/cuda has the runtime but not cuBLAS, cuSPARSE or cuSOLVER; Debian's nvidia-cuda-dev would be ~930 MB).
// It is passed with -idirafter, so a real cusparse.h wins. It holds only the names LibTorch 2.6's ATen/cuda headers
// (CUDAContextLight.h, Exceptions.h) use in declarations; the library's API is not here, so project code calling
// it fails the check. Never used by a real build.
#pragma once
#include <cuda_runtime_api.h>
#include <library_types.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef enum {
  CUSPARSE_STATUS_SUCCESS = 0,
  CUSPARSE_STATUS_NOT_INITIALIZED = 1,
  CUSPARSE_STATUS_ALLOC_FAILED = 2,
  CUSPARSE_STATUS_INVALID_VALUE = 3,
  CUSPARSE_STATUS_ARCH_MISMATCH = 4,
  CUSPARSE_STATUS_MAPPING_ERROR = 5,
  CUSPARSE_STATUS_EXECUTION_FAILED = 6,
  CUSPARSE_STATUS_INTERNAL_ERROR = 7,
  CUSPARSE_STATUS_MATRIX_TYPE_NOT_SUPPORTED = 8,
  CUSPARSE_STATUS_ZERO_PIVOT = 9,
  CUSPARSE_STATUS_NOT_SUPPORTED = 10,
  CUSPARSE_STATUS_INSUFFICIENT_RESOURCES = 11
} cusparseStatus_t;
struct cusparseContext;
typedef struct cusparseContext* cusparseHandle_t;
#ifdef __cplusplus
}
#endif
