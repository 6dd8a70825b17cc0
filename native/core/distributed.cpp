// SPDX-License-Identifier: MIT
#include "distributed.h"

// ProcessGroupGloo.hpp includes <gloo/...>, which Debian ships in libgloo-dev and pip wheels not at all;
// ProcessGroupNCCL.hpp needs a CUDA LibTorch (USE_C10D_NCCL comes from its torch_cuda target) and nccl.h.
#if defined(USE_C10D_GLOO) && __has_include(<gloo/config.h>)
#define LIBTORCH_RESNET_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#define LIBTORCH_RESNET_HAVE_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <stdexcept>

#include "failures.h"
#include "torch_compat.h"

namespace libtorch_resnet::core {

namespace {

std::chrono::milliseconds timeout_of(const DistributedOptions& o) {
  return std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

std::string timeout_text(double seconds) {
  std::string s = std::to_string(seconds);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s + " s";
}

}  // namespace

bool backend_built(Backend backend) {
  switch (backend) {
#ifdef LIBTORCH_RESNET_HAVE_GLOO
    case Backend::kGloo: return true;
#endif
#ifdef LIBTORCH_RESNET_HAVE_NCCL
    case Backend::kNccl: return true;
#endif
    case Backend::kAuto: return backend_built(Backend::kGloo) || backend_built(Backend::kNccl);
    default: return false;
  }
}

std::optional<DistributedOptions> distributed_from_env() {
  const char* world = std::getenv("WORLD_SIZE");
  if (world == nullptr) return std::nullopt;
  const auto integer = [](const char* name, const char* fallback) {
    const char* text = std::getenv(name);
    if (text == nullptr) text = fallback;
    if (text == nullptr) throw std::runtime_error(std::string("WORLD_SIZE is set but ") + name + " is not");
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 0)
      throw std::runtime_error(std::string(name) + "='" + text + "' is not a non-negative integer");
    return static_cast<int>(value);
  };
  DistributedOptions o;
  o.enabled = true;
  o.world_size = integer("WORLD_SIZE", nullptr);
  o.rank = integer("RANK", nullptr);
  o.local_rank = integer("LOCAL_RANK", std::getenv("RANK"));
  o.master_port = integer("MASTER_PORT", nullptr);
  const char* addr = std::getenv("MASTER_ADDR");
  if (addr == nullptr) throw std::runtime_error("WORLD_SIZE is set but MASTER_ADDR is not");
  o.master_addr = addr;
  if (o.world_size < 1 || o.rank >= o.world_size)
    throw std::runtime_error("RANK must be below WORLD_SIZE, and WORLD_SIZE at least 1");
  return o;
}

Backend resolve_backend(Backend backend, const torch::Device& device) {
  if (backend != Backend::kAuto) return backend;
  return device.is_cuda() ? Backend::kNccl : Backend::kGloo;
}

struct C10dCommunicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::C10dBackend> group;
  std::deque<c10::intrusive_ptr<c10d::Work>> started;
  double timeout_seconds = 0;

  [[noreturn]] void fail(const char* what, const std::exception& error) const {
    throw DistributedError(std::string("distributed training failed during ") + what + ": " + error.what() +
                           "\nAnother rank most likely died or stopped answering (the timeout is " +
                           timeout_text(timeout_seconds) + "); its own output says why.");
  }
};

C10dCommunicator::C10dCommunicator(const DistributedOptions& o, const torch::Device& device, int64_t vote_every)
    : impl_(std::make_unique<Impl>()),
      device_(device),
      vote_every_(std::max<int64_t>(1, vote_every)),
      rank_(o.rank),
      world_size_(o.world_size) {
  backend_ = resolve_backend(o.backend, device);
  impl_->timeout_seconds = o.timeout_seconds;
  if (!backend_built(backend_)) {
    throw std::runtime_error(
        backend_ == Backend::kGloo
            ? "this build of the addon has no Gloo backend: the LibTorch it was built against ships no gloo "
              "headers (pip wheels do not). Use backend 'nccl' on CUDA, or build against Debian's LibTorch with "
              "libgloo-dev installed"
            : "this build of the addon has no NCCL backend: it needs a CUDA LibTorch and nccl.h at build time "
              "(pip's nvidia-nccl package provides it). On the CPU use backend 'gloo'");
  }
  if (backend_ == Backend::kNccl && !device.is_cuda())
    throw std::runtime_error("backend 'nccl' needs a CUDA device; on the CPU use backend 'gloo'");

  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(o.master_port);
    store_options.isServer = o.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(o.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = timeout_of(o);
    compat::disable_libuv(store_options, 0);
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
  } catch (const std::exception& e) {
    throw DistributedError("rank " + std::to_string(o.rank) + " could not meet the other " +
                           std::to_string(o.world_size - 1) + " rank(s) at " + o.master_addr + ":" +
                           std::to_string(o.master_port) + " within " + timeout_text(o.timeout_seconds) + ": " +
                           e.what() + "\nCheck that every rank was started with the same MASTER_ADDR, MASTER_PORT "
                           "and WORLD_SIZE, and that rank 0 can listen on that port.");
  }

  try {
    if (backend_ == Backend::kGloo) {
#ifdef LIBTORCH_RESNET_HAVE_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(timeout_of(o));
      // Gloo connects the ranks over the interface its device binds. On one machine that is loopback, named
      // explicitly so /etc/hosts does not matter; across machines GLOO_SOCKET_IFNAME picks one, as in PyTorch.
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (is_loopback(o.master_addr))
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank, o.world_size, options);
#endif
    } else {
#ifdef LIBTORCH_RESNET_HAVE_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout_of(o);
      impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, o.rank, o.world_size, options);
#endif
    }
  } catch (const std::exception& e) {
    impl_->fail("the process group's set-up", e);
  }
}

C10dCommunicator::~C10dCommunicator() {
  try {
    if (impl_->group) compat::shutdown(*impl_->group);
  } catch (...) {
    // A group whose peers are gone may fail to shut down cleanly; the run has already failed or finished.
  }
}

std::string C10dCommunicator::backend() const { return name_of(backend_); }

void C10dCommunicator::broadcast(const std::vector<torch::Tensor>& tensors, const char* what) {
  torch::NoGradGuard no_grad;
  // One flat buffer per dtype: one collective each instead of one per tensor.
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  try {
    for (auto& [type, group] : by_type) {
      std::vector<torch::Tensor> flat{torch::flatten_dense_tensors(group)};
      c10d::BroadcastOptions options;
      options.rootRank = 0;
      impl_->group->broadcast(flat, options)->wait();
      auto values = torch::unflatten_dense_tensors(flat[0], group);
      for (size_t i = 0; i < group.size(); ++i) group[i].copy_(values[i]);
    }
  } catch (const std::exception& e) {
    impl_->fail(what, e);
  }
}

void C10dCommunicator::allreduce(torch::Tensor& tensor, Reduce op, const char* what) {
  std::vector<torch::Tensor> tensors{tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = op == Reduce::kMax ? c10d::ReduceOp::MAX : c10d::ReduceOp::SUM;
  try {
    impl_->group->allreduce(tensors, options)->wait();
  } catch (const std::exception& e) {
    impl_->fail(what, e);
  }
}

void C10dCommunicator::allreduce_start(torch::Tensor& tensor) {
  std::vector<torch::Tensor> tensors{tensor};
  try {
    impl_->started.push_back(impl_->group->allreduce(tensors));
  } catch (const std::exception& e) {
    impl_->fail("the gradient all-reduce", e);
  }
}

void C10dCommunicator::wait_all(const char* what) {
  try {
    while (!impl_->started.empty()) {
      auto work = impl_->started.front();
      impl_->started.pop_front();
      work->wait();
    }
  } catch (const std::exception& e) {
    impl_->started.clear();
    impl_->fail(what, e);
  }
}

bool C10dCommunicator::stop_before(int64_t step, bool requested) {
  if ((step - 1) % vote_every_ != 0) return false;
  auto vote = torch::full({1}, requested ? 1.0f : 0.0f, torch::TensorOptions().device(device_));
  allreduce(vote, Reduce::kSum, "the stop vote");
  return vote.item<float>() > 0;
}

GradientReducer::GradientReducer(Communicator& communicator, const std::vector<torch::Tensor>& params)
    : communicator_(communicator), params_(params), slots_(params.size()) {
  // The first bucket is small so that communication starts early in backward, as DDP's is.
  int64_t cap = kFirstBucketBytes;
  int64_t used = 0;
  for (int64_t i = static_cast<int64_t>(params.size()) - 1; i >= 0; --i) {
    const int64_t bytes = params[i].numel() * static_cast<int64_t>(params[i].element_size());
    if (buckets_.empty() || used + bytes > cap) {
      if (!buckets_.empty()) cap = kBucketBytes;
      buckets_.emplace_back();
      used = 0;
    }
    slots_[i].bucket = static_cast<int64_t>(buckets_.size()) - 1;
    buckets_.back().params.push_back(i);
    used += bytes;
  }
  for (auto& bucket : buckets_) {
    int64_t numel = 0;
    for (auto i : bucket.params) {
      slots_[i].offset = numel;
      numel += params_[i].numel();
    }
    // Every parameter here has the same dtype and device (the model's float32 weights).
    bucket.flat = torch::zeros({numel}, params_[bucket.params.front()].options());
    bucket.pending = static_cast<int64_t>(bucket.params.size());
  }
  views_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    const auto& flat = buckets_[slots_[i].bucket].flat;
    // A dense layout (contiguous or channels-last) spans exactly numel elements, so it fits its slot as it is.
    views_[i] = p.is_non_overlapping_and_dense()
                    ? flat.as_strided(p.sizes(), p.strides(), slots_[i].offset)
                    : flat.narrow(0, slots_[i].offset, p.numel()).view(p.sizes());
    const auto index = static_cast<int64_t>(i);
    p.register_hook([this, index](const torch::Tensor& grad) { on_gradient(index, grad); });
  }
}

void GradientReducer::on_gradient(int64_t param, const torch::Tensor& grad) {
  // Runs on the autograd engine's thread, inside backward(); the hook sees the gradient before it is added to
  // .grad, so the bucket holds exactly this step's gradient.
  Bucket& bucket = buckets_[slots_[param].bucket];
  views_[param].copy_(grad);
  --bucket.pending;
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].pending == 0)
    communicator_.allreduce_start(buckets_[next_to_start_++].flat);
}

void GradientReducer::finish() {
  if (next_to_start_ != buckets_.size()) {
    throw std::logic_error("GradientReducer: backward() produced gradients for " + std::to_string(next_to_start_) +
                           " of " + std::to_string(buckets_.size()) +
                           " buckets; every parameter must take part in each step");
  }
  communicator_.wait_all("the gradient all-reduce");
  torch::NoGradGuard no_grad;
  const double world = communicator_.world_size();
  for (auto& bucket : buckets_) {
    bucket.flat.div_(world);
    for (auto i : bucket.params) params_[i].mutable_grad() = views_[i];
    bucket.pending = static_cast<int64_t>(bucket.params.size());
  }
  next_to_start_ = 0;
}

void GradientReducer::prepare_backward() {
  for (auto& p : params_) p.mutable_grad().reset();
}

torch::Tensor shard_indices(int64_t size, int rank, int world_size) {
  return torch::arange(rank, size, world_size, torch::kInt64);
}

torch::Tensor shard_of_order(const torch::Tensor& order, int rank, int world_size) {
  const int64_t n = order.size(0);
  const int64_t padded = (n + world_size - 1) / world_size * world_size;
  auto full = padded == n ? order : torch::cat({order, order.slice(0, 0, padded - n)});
  return full.slice(0, rank, padded, world_size);
}

}  // namespace libtorch_resnet::core
