# SPDX-License-Identifier: MIT
# The release build (node-gyp; prebuildify runs it). It compiles the same sources with the same defines as
# CMakeLists.txt, against the LibTorch that lib/find-libtorch.js picks; scripts/check-build-files.mjs
# fails CI if the two drift apart.
{
  "targets": [
    {
      "target_name": "torch_resnet",
      "sources": [
        "native/core/cuda/cuda_graph.cpp",
        "native/core/cuda/fused_sgd.cpp",
        "native/core/train_step.cpp",
        "native/core/cifar10_dataset.cpp",
        "native/core/folder_cache.cpp",
        "native/core/resnet34.cpp",
        "native/core/trainer.cpp",
        "native/core/checkpoint.cpp",
        "native/core/torch_file.cpp",
        "native/core/evaluation.cpp",
        "native/core/runtime.cpp",
        "native/core/benchmark.cpp",
        "native/core/compute_mode.cpp",
        "native/core/distributed.cpp",
        "native/core/recipe.cpp",
        "native/core/fine_tune.cpp",
        "native/binding/addon.cpp",
        "native/binding/convert.cpp",
        "native/binding/errors.cpp",
        "native/binding/job_worker.cpp"
      ],
      "include_dirs": [
        "native",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node lib/find-libtorch.js --include-dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "<!@(node lib/find-libtorch.js --defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-O2"],
      "libraries": ["<!@(node lib/find-libtorch.js --libs)"]
    }
  ]
}
