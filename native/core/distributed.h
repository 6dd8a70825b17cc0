// SPDX-License-Identifier: MIT
// Data-parallel training on c10d, LibTorch's distributed engine: a TCPStore for the rendezvous and a Gloo (CPU)
// or NCCL (CUDA) process group for the collectives. There is no DistributedDataParallel in LibTorch's C++ API
// (c10d::Reducer is internal and changed its constructor between 1.13 and 2.x), so GradientReducer does DDP's
// part here: gradients gathered into flat buckets by autograd hooks as the backward pass produces them, each
// bucket all-reduced as soon as it is full, the averages written back after backward.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "options.h"

namespace libtorch_resnet::core {

// Whether this build of the addon can make a process group of `backend` (kAuto: either). Gloo needs its headers
// at build time (Debian's libgloo-dev; pip wheels do not ship them), NCCL a CUDA LibTorch and nccl.h.
bool backend_built(Backend backend);

// torchrun's variables (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), when WORLD_SIZE is set; for
// C++ front ends (the Node package reads them in lib/config/distributed.ts). Throws when one is missing or malformed.
std::optional<DistributedOptions> distributed_from_env();

// The backend a run uses: kAuto is NCCL on CUDA and Gloo on the CPU.
Backend resolve_backend(Backend backend, const torch::Device& device);

// How a training run speaks with the other processes of its job. Collectives are called by every rank in the same
// order; each failure (a rank that died, a timeout) throws DistributedError saying what was being done. A run of
// one process has SingleProcess, whose collectives leave their tensors as they are, so the training loop is
// written once for both.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // The c10d backend's name ("gloo", "nccl"), or "" for a single process.
  virtual std::string backend() const = 0;

  // Overwrites `tensors` (any dtypes, one device) with rank 0's values.
  virtual void broadcast(const std::vector<torch::Tensor>& tensors, const char* what) = 0;

  enum class Reduce { kSum, kMax };
  // In place, waiting for the result. `what` names the collective in errors.
  virtual void allreduce(torch::Tensor& tensor, Reduce op, const char* what) = 0;

  // Starts a sum in place and returns at once; wait_all() waits for every started one, in order.
  virtual void allreduce_start(torch::Tensor& tensor) = 0;
  virtual void wait_all(const char* what) = 0;

  // Whether the job stops before training step `step` (1-based): any rank's request stops every rank at the same
  // step.
  virtual bool stop_before(int64_t step, bool requested) = 0;
};

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return ""; }
  void broadcast(const std::vector<torch::Tensor>&, const char*) override {}
  void allreduce(torch::Tensor&, Reduce, const char*) override {}
  void allreduce_start(torch::Tensor&) override {}
  void wait_all(const char*) override {}
  bool stop_before(int64_t, bool requested) override { return requested; }
};

// One process's membership of a distributed run on c10d.
class C10dCommunicator final : public Communicator {
 public:
  // Meets the other ranks at master_addr:master_port (rank 0 serves the store) and builds the process group.
  // Waits at most options.timeout_seconds for all of them. The stop vote is a collective read back on the host,
  // so it is taken every `vote_every` steps.
  C10dCommunicator(const DistributedOptions& options, const torch::Device& device, int64_t vote_every = 1);
  ~C10dCommunicator() override;
  C10dCommunicator(const C10dCommunicator&) = delete;
  C10dCommunicator& operator=(const C10dCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override;
  Backend backend_kind() const { return backend_; }
  void broadcast(const std::vector<torch::Tensor>& tensors, const char* what) override;
  void allreduce(torch::Tensor& tensor, Reduce op, const char* what) override;
  void allreduce_start(torch::Tensor& tensor) override;
  void wait_all(const char* what) override;
  bool stop_before(int64_t step, bool requested) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  torch::Device device_;
  int64_t vote_every_ = 1;
  int rank_ = 0;
  int world_size_ = 1;
  Backend backend_ = Backend::kGloo;
};

// Averages gradients across the ranks, DDP's way. Parameters are grouped in reverse order (roughly the order in
// which backward produces their gradients) into flat buckets of about kBucketBytes; a hook on each parameter
// copies its gradient into its bucket, and a full bucket's all-reduce starts while backward goes on. Buckets are
// started in the same order on every rank, as the collectives require.
class GradientReducer {
 public:
  static constexpr int64_t kFirstBucketBytes = 1 << 20;
  static constexpr int64_t kBucketBytes = 25 << 20;

  // Registers the hooks; `params` must outlive the reducer and every one must get a gradient each step.
  GradientReducer(Communicator& communicator, const std::vector<torch::Tensor>& params);

  // Before backward(), instead of the optimizer's zero_grad(): drops the parameters' .grad, so that backward
  // makes them afresh rather than adding into the bucket views finish() left there.
  void prepare_backward();

  // After backward(): waits for the buckets and points each parameter's .grad at its averaged gradient inside
  // its bucket (laid out like the parameter, so the multi-tensor SGD update keeps its fast path): no copies back.
  void finish();

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Slot {
    int64_t bucket = 0;
    int64_t offset = 0;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<int64_t> params;
    int64_t pending = 0;
  };
  void on_gradient(int64_t param, const torch::Tensor& grad);

  Communicator& communicator_;
  std::vector<torch::Tensor> params_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  // Each parameter's place in its bucket, with the parameter's sizes and strides.
  std::vector<torch::Tensor> views_;
  size_t next_to_start_ = 0;
};

// The shard of a dataset of `size` records that `rank` of `world_size` takes: every world_size-th record from
// rank, as torch.utils.data.DistributedSampler does without shuffling or padding.
torch::Tensor shard_indices(int64_t size, int rank, int world_size);

// DistributedSampler's epoch shard: `order` (the epoch's permutation, the same on every rank) padded by wrapping
// around to a multiple of world_size, then every world_size-th index from rank.
torch::Tensor shard_of_order(const torch::Tensor& order, int rank, int world_size);

}  // namespace libtorch_resnet::core
