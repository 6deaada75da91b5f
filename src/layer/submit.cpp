// Queue operations on semaphores and fences that hold a shared payload (DESIGN.md §7): vkQueueSubmit,
// vkQueueSubmit2, vkQueueBindSparse, and the WSI pair. Each wait on a shared payload becomes a wait on a
// private timeline semaphore that the device's QueueBridge signals once the shared state allows it; each
// signal becomes a signal of a private timeline semaphore after which the bridge publishes into the shared
// state. Objects without a shared payload are passed through as they are, and while the device has no shared
// payload and no temporary import at all, every command here goes straight to the driver.
#include <memory>
#include <utility>
#include <vector>

#include "dispatch.hpp"
#include "hooks.hpp"
#include "pnext.hpp"
#include "shared_payload/host_wait.hpp"
#include "shared_payload/queue_bridge.hpp"
#include "sync.hpp"
#include "validation.hpp"
#include "validation/sync_rules.hpp"

namespace ntbridge {
namespace {

using shared_payload::Publish;
using shared_payload::QueueBridge;
using shared_payload::Ticket;

// What the layer learns of one semaphore in a submission.
struct SemaphoreUse {
  std::shared_ptr<shared_payload::SyncState> shared;  // its shared payload now, or null
  bool temporary = false;                             // a temporary import is in effect (ended by a wait)
  bool binary = true;
};

SemaphoreUse Look(DeviceData& d, VkSemaphore s) {
  SemaphoreUse use;
  d.semaphores.Update(s, [&](SyncRecord& r) {
    use.shared = r.current().shared;
    use.temporary = r.temporary.has_value();
    use.binary = r.semaphore_type == VK_SEMAPHORE_TYPE_BINARY;
  });
  return use;
}

std::shared_ptr<shared_payload::SyncState> SharedFence(DeviceData& d, VkFence f) {
  std::shared_ptr<shared_payload::SyncState> state;
  d.fences.Update(f, [&](SyncRecord& r) { state = r.current().shared; });
  return state;
}

// A submission the driver accepted signals `fence`: pending until seen complete (04448).
void MarkPending(DeviceData& d, VkFence fence) {
  if (fence != VK_NULL_HANDLE && d.fence_win32_enabled) {
    d.fences.Update(fence, [](SyncRecord& f) { f.fence_pending = true; });
  }
}

// Everything one submission call reserved and must commit after the driver accepted it, or give back.
class Rewrite {
 public:
  explicit Rewrite(DeviceData& d) : d_(d) {}
  ~Rewrite() {
    if (!done_ && bridge_ != nullptr) {
      for (const Ticket& t : reserved_) bridge_->Unreserve(t);
    }
  }

  // The bridge, made on first need; false (reported) when it cannot be had.
  bool Ready() {
    if (bridge_ == nullptr) bridge_ = d_.Bridge();
    return bridge_ != nullptr;
  }

  // A wait on `semaphore` for `value`: replaced in place when the semaphore holds a shared payload.
  VkResult Wait(VkSemaphore* semaphore, uint64_t* value) {
    SemaphoreUse use = Look(d_, *semaphore);
    if (use.temporary && use.binary) ended_temporaries_.push_back(*semaphore);
    if (!use.shared) return VK_SUCCESS;
    if (!Ready()) return VK_ERROR_OUT_OF_HOST_MEMORY;
    Ticket t;
    VkResult r = bridge_->Reserve(&t);
    if (r != VK_SUCCESS) return r;
    reserved_.push_back(t);
    waits_.push_back({t, std::move(use.shared), use.binary ? 0 : *value, use.binary});
    *semaphore = t.semaphore;
    *value = t.value;
    changed_ = true;
    return VK_SUCCESS;
  }

  // A signal of `semaphore` with `value`: replaced in place when it holds a shared payload.
  VkResult Signal(VkSemaphore* semaphore, uint64_t* value) {
    SemaphoreUse use = Look(d_, *semaphore);
    if (!use.shared) return VK_SUCCESS;
    if (!Ready()) return VK_ERROR_OUT_OF_HOST_MEMORY;
    Ticket t;
    VkResult r = bridge_->Reserve(&t);
    if (r != VK_SUCCESS) return r;
    reserved_.push_back(t);
    signals_.push_back({t, {Publish{std::move(use.shared), use.binary ? 1 : *value, VK_NULL_HANDLE}}});
    *semaphore = t.semaphore;
    *value = t.value;
    changed_ = true;
    return VK_SUCCESS;
  }

  // The submission's fence: when it holds a shared payload, a private semaphore signalled by one more batch
  // at the end of the submission (a signal operation covers everything earlier in submission order) stands
  // in.
  VkResult Fence(VkFence* fence, Ticket* ticket, bool* extra_batch) {
    *extra_batch = false;
    fence_ = *fence;
    if (*fence == VK_NULL_HANDLE || !d_.fence_win32_enabled) return VK_SUCCESS;
    auto state = SharedFence(d_, *fence);
    if (!state) return VK_SUCCESS;
    if (!Ready()) return VK_ERROR_OUT_OF_HOST_MEMORY;
    VkResult r = bridge_->Reserve(ticket);
    if (r != VK_SUCCESS) return r;
    reserved_.push_back(*ticket);
    signals_.push_back({*ticket, {Publish{std::move(state), 1, *fence}}});
    *fence = VK_NULL_HANDLE;
    *extra_batch = true;
    changed_ = true;
    return VK_SUCCESS;
  }

  // Whether a wait or signal was replaced since the last call (a batch asks once, after its own).
  bool TakeChanged() { return std::exchange(changed_, false); }

  // The driver accepted the submission.
  void Commit() {
    done_ = true;
    MarkPending(d_, fence_);
    for (auto& w : waits_) bridge_->CommitWait(w.ticket, std::move(w.state), w.value, w.consume);
    for (auto& s : signals_) bridge_->CommitSignal(s.ticket, std::move(s.publishes));
    // A binary semaphore's temporary import ends with the wait that was just submitted.
    for (VkSemaphore s : ended_temporaries_) {
      std::optional<SyncPayloadRef> ended;
      d_.semaphores.Update(s, [&](SyncRecord& r) {
        ended = std::move(r.temporary);
        r.temporary.reset();
      });
      if (ended) DropTemporary(d_, *ended);
    }
  }

 private:
  struct WaitJob {
    Ticket ticket;
    std::shared_ptr<shared_payload::SyncState> state;
    uint64_t value;
    bool consume;
  };
  struct SignalJob {
    Ticket ticket;
    std::vector<Publish> publishes;
  };
  DeviceData& d_;
  QueueBridge* bridge_ = nullptr;
  std::vector<Ticket> reserved_;
  std::vector<WaitJob> waits_;
  std::vector<SignalJob> signals_;
  std::vector<VkSemaphore> ended_temporaries_;
  bool changed_ = false;
  bool done_ = false;
  VkFence fence_ = VK_NULL_HANDLE;  // the application's
};

// One rewritten VkSubmitInfo or VkBindSparseInfo: its own semaphore and value arrays, and a chain whose
// VkTimelineSemaphoreSubmitInfo points at them.
struct Batch {
  std::vector<VkSemaphore> wait_semaphores;
  std::vector<uint64_t> wait_values;
  std::vector<VkSemaphore> signal_semaphores;
  std::vector<uint64_t> signal_values;
  VkTimelineSemaphoreSubmitInfo timeline{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  std::unique_ptr<ChainCopy> chain;
};

// Rewrites the semaphores of a VkSubmitInfo or VkBindSparseInfo (same member names) into `batch`.
template <typename Info>
VkResult RewriteBatch(DeviceData& d, Rewrite& rw, const Info& in, Info& out, Batch& batch,
                      const char* command, uint32_t index) {
  auto* ts =
      FindInChain<VkTimelineSemaphoreSubmitInfo>(in.pNext, VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO);
  auto value_at = [](const uint64_t* values, uint32_t count, uint32_t i) {
    return (values != nullptr && i < count) ? values[i] : 0;
  };
  batch.wait_semaphores.assign(in.pWaitSemaphores, in.pWaitSemaphores + in.waitSemaphoreCount);
  batch.signal_semaphores.assign(in.pSignalSemaphores, in.pSignalSemaphores + in.signalSemaphoreCount);
  batch.wait_values.resize(in.waitSemaphoreCount);
  batch.signal_values.resize(in.signalSemaphoreCount);
  for (uint32_t i = 0; i < in.waitSemaphoreCount; ++i) {
    batch.wait_values[i] = ts ? value_at(ts->pWaitSemaphoreValues, ts->waitSemaphoreValueCount, i) : 0;
    if (VkResult r = rw.Wait(&batch.wait_semaphores[i], &batch.wait_values[i]); r != VK_SUCCESS) return r;
  }
  for (uint32_t i = 0; i < in.signalSemaphoreCount; ++i) {
    batch.signal_values[i] = ts ? value_at(ts->pSignalSemaphoreValues, ts->signalSemaphoreValueCount, i) : 0;
    if (VkResult r = rw.Signal(&batch.signal_semaphores[i], &batch.signal_values[i]); r != VK_SUCCESS)
      return r;
  }
  out = in;
  const VkBaseInStructure* d3d12 = FindInChain(in.pNext, VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR);
  if (!rw.TakeChanged() && d3d12 == nullptr) return VK_SUCCESS;
  if constexpr (std::is_same_v<Info, VkSubmitInfo>) {
    if (d3d12 != nullptr &&
        ReportViolations(d.instance->reporter,
                         ValidateD3D12FenceSubmitInfo(
                             in, index, *reinterpret_cast<const VkD3D12FenceSubmitInfoKHR*>(d3d12)))) {
      return VK_ERROR_VALIDATION_FAILED_EXT;
    }
  }
  (void)command;
  batch.chain = std::make_unique<ChainCopy>(in.pNext);
  if (!batch.chain->ok()) return VK_ERROR_VALIDATION_FAILED_EXT;
  // The Direct3D 12 fence values belong to D3D12_FENCE semaphores, which cannot exist on Linux (the driver
  // does not know the structure either).
  batch.chain->Remove(VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR);
  batch.chain->Remove(VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO);
  batch.timeline.waitSemaphoreValueCount = in.waitSemaphoreCount;
  batch.timeline.pWaitSemaphoreValues = batch.wait_values.data();
  batch.timeline.signalSemaphoreValueCount = in.signalSemaphoreCount;
  batch.timeline.pSignalSemaphoreValues = batch.signal_values.data();
  batch.chain->Prepend(reinterpret_cast<VkBaseOutStructure*>(&batch.timeline));
  out.pNext = batch.chain->head();
  out.pWaitSemaphores = batch.wait_semaphores.data();
  out.pSignalSemaphores = batch.signal_semaphores.data();
  return VK_SUCCESS;
}

// A batch that only signals `ticket` (for a fence with a shared payload). It carries no
// VkDeviceGroupSubmitInfo / VkDeviceGroupBindSparseInfo, even in a device group: without one, "semaphore
// operations and command buffers execute on device index zero", an index every group has, and the signal
// covers every command earlier in submission order, whichever physical device ran it. (vkQueueSubmit2's batch
// says the same with deviceIndex 0.) The batches RewriteBatch changes keep their counts, so the application's
// device-group structures still match them.
template <typename Info>
void SignalOnlyBatch(const Ticket& ticket, Info& out, Batch& batch) {
  batch.signal_semaphores = {ticket.semaphore};
  batch.signal_values = {ticket.value};
  batch.timeline.signalSemaphoreValueCount = 1;
  batch.timeline.pSignalSemaphoreValues = batch.signal_values.data();
  out = {};
  if constexpr (std::is_same_v<Info, VkSubmitInfo>) {
    out.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  } else {
    out.sType = VK_STRUCTURE_TYPE_BIND_SPARSE_INFO;
  }
  out.pNext = &batch.timeline;
  out.signalSemaphoreCount = 1;
  out.pSignalSemaphores = batch.signal_semaphores.data();
}

template <typename Info, typename Call>
VkResult SubmitBatches(DeviceData& d, uint32_t count, const Info* infos, VkFence fence, const char* command,
                       Call&& call) {
  Rewrite rw(d);
  std::vector<Info> out(count + 1);
  std::vector<Batch> batches(count + 1);
  for (uint32_t i = 0; i < count; ++i) {
    if (VkResult r = RewriteBatch(d, rw, infos[i], out[i], batches[i], command, i); r != VK_SUCCESS) return r;
  }
  Ticket fence_ticket;
  bool extra = false;
  if (VkResult r = rw.Fence(&fence, &fence_ticket, &extra); r != VK_SUCCESS) return r;
  if (extra) SignalOnlyBatch(fence_ticket, out[count], batches[count]);
  VkResult r = call(count + (extra ? 1 : 0), out.data(), fence);
  if (r == VK_SUCCESS) rw.Commit();
  return r;
}

// A VkD3D12FenceSubmitInfoKHR anywhere: its rules are checked and it is taken out (no driver knows it).
bool HasD3D12FenceSubmitInfo(const DeviceData& d, uint32_t count, const VkSubmitInfo* submits) {
  if (!d.semaphore_win32_enabled || submits == nullptr) return false;
  for (uint32_t i = 0; i < count; ++i) {
    if (submits[i].pNext != nullptr &&
        FindInChain(submits[i].pNext, VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR)) {
      return true;
    }
  }
  return false;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL QueueSubmit(VkQueue queue, uint32_t count, const VkSubmitInfo* submits,
                                           VkFence fence) {
  DeviceData* d = DeviceOf(queue);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 &&
      !HasD3D12FenceSubmitInfo(*d, count, submits)) {
    VkResult r = d->next.QueueSubmit(queue, count, submits, fence);
    if (r == VK_SUCCESS) MarkPending(*d, fence);
    return r;
  }
  return SubmitBatches(
      *d, count, submits, fence, "vkQueueSubmit",
      [&](uint32_t n, const VkSubmitInfo* s, VkFence f) { return d->next.QueueSubmit(queue, n, s, f); });
}

VKAPI_ATTR VkResult VKAPI_CALL QueueBindSparse(VkQueue queue, uint32_t count, const VkBindSparseInfo* binds,
                                               VkFence fence) {
  DeviceData* d = DeviceOf(queue);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0) {
    VkResult r = d->next.QueueBindSparse(queue, count, binds, fence);
    if (r == VK_SUCCESS) MarkPending(*d, fence);
    return r;
  }
  return SubmitBatches(*d, count, binds, fence, "vkQueueBindSparse",
                       [&](uint32_t n, const VkBindSparseInfo* b, VkFence f) {
                         return d->next.QueueBindSparse(queue, n, b, f);
                       });
}

VKAPI_ATTR VkResult VKAPI_CALL QueueSubmit2(VkQueue queue, uint32_t count, const VkSubmitInfo2* submits,
                                            VkFence fence) {
  DeviceData* d = DeviceOf(queue);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0) {
    VkResult r = d->next.QueueSubmit2(queue, count, submits, fence);
    if (r == VK_SUCCESS) MarkPending(*d, fence);
    return r;
  }
  Rewrite rw(*d);
  std::vector<VkSubmitInfo2> out(submits, submits + count);
  std::vector<std::vector<VkSemaphoreSubmitInfo>> waits(count), signals(count);
  for (uint32_t i = 0; i < count; ++i) {
    const VkSubmitInfo2& in = submits[i];
    waits[i].assign(in.pWaitSemaphoreInfos, in.pWaitSemaphoreInfos + in.waitSemaphoreInfoCount);
    signals[i].assign(in.pSignalSemaphoreInfos, in.pSignalSemaphoreInfos + in.signalSemaphoreInfoCount);
    for (auto& w : waits[i]) {
      if (VkResult r = rw.Wait(&w.semaphore, &w.value); r != VK_SUCCESS) return r;
    }
    for (auto& s : signals[i]) {
      if (VkResult r = rw.Signal(&s.semaphore, &s.value); r != VK_SUCCESS) return r;
    }
    out[i].pWaitSemaphoreInfos = waits[i].data();
    out[i].pSignalSemaphoreInfos = signals[i].data();
  }
  Ticket ticket;
  bool extra = false;
  if (VkResult r = rw.Fence(&fence, &ticket, &extra); r != VK_SUCCESS) return r;
  VkSemaphoreSubmitInfo fence_signal{
      VK_STRUCTURE_TYPE_SEMAPHORE_SUBMIT_INFO, nullptr, ticket.semaphore, ticket.value,
      VK_PIPELINE_STAGE_2_ALL_COMMANDS_BIT,    0};
  if (extra) {
    VkSubmitInfo2 batch{VK_STRUCTURE_TYPE_SUBMIT_INFO_2};
    batch.signalSemaphoreInfoCount = 1;
    batch.pSignalSemaphoreInfos = &fence_signal;
    out.push_back(batch);
  }
  VkResult r = d->next.QueueSubmit2(queue, static_cast<uint32_t>(out.size()), out.data(), fence);
  if (r == VK_SUCCESS) rw.Commit();
  return r;
}

// Presentation waits only on binary semaphores, which the bridge's timeline semaphores are not: a shared
// payload's wait is done on the host here (consuming its signal), before the driver presents.
VKAPI_ATTR VkResult VKAPI_CALL QueuePresentKHR(VkQueue queue, const VkPresentInfoKHR* info) {
  DeviceData* d = DeviceOf(queue);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || info == nullptr) {
    return d->next.QueuePresentKHR(queue, info);
  }
  std::vector<VkSemaphore> kept;
  std::vector<VkSemaphore> ended;  // binary semaphores whose temporary import this wait ends
  std::vector<shared_payload::WaitItem> items;
  std::vector<std::shared_ptr<shared_payload::SyncState>> states;
  for (uint32_t i = 0; i < info->waitSemaphoreCount; ++i) {
    SemaphoreUse use = Look(*d, info->pWaitSemaphores[i]);
    if (use.temporary) ended.push_back(info->pWaitSemaphores[i]);
    if (use.shared) {
      states.push_back(use.shared);
      items.push_back({use.shared.get(), 0, true, false});
    } else {
      kept.push_back(info->pWaitSemaphores[i]);
    }
  }
  if (!items.empty()) {
    size_t first = 0;
    std::string error;
    auto s = shared_payload::WaitMany(items, false, shared_payload::Clock::time_point::max(), nullptr, 0,
                                      &first, &error);
    if (s != shared_payload::Status::kOk) {
      ReportSharedPayloadFault(*d, "vkQueuePresentKHR", *states[first < states.size() ? first : 0], error);
      return VK_ERROR_DEVICE_LOST;
    }
  }
  VkPresentInfoKHR down = *info;
  down.waitSemaphoreCount = static_cast<uint32_t>(kept.size());
  down.pWaitSemaphores = kept.data();
  VkResult r = d->next.QueuePresentKHR(queue, &down);
  // The wait operations happened (shared ones above, the driver's with the present): temporary imports end.
  for (VkSemaphore s : ended) {
    std::optional<SyncPayloadRef> ref;
    d->semaphores.Update(s, [&](SyncRecord& rec) {
      ref = std::move(rec.temporary);
      rec.temporary.reset();
    });
    if (ref) DropTemporary(*d, *ref);
  }
  return r;
}

namespace {

// Acquisition signals a semaphore and/or a fence with no queue to put a private semaphore on: where one of
// them holds a shared payload, the layer waits for the acquisition on the host and publishes it. `acquire`
// calls the driver with the semaphore and fence to use.
template <typename Acquire>
VkResult AcquireShared(DeviceData& d, VkDevice device, VkSemaphore semaphore, VkFence fence,
                       Acquire&& acquire) {
  std::shared_ptr<shared_payload::SyncState> sem_state =
      semaphore != VK_NULL_HANDLE ? Look(d, semaphore).shared : nullptr;
  std::shared_ptr<shared_payload::SyncState> fence_state;
  if (fence != VK_NULL_HANDLE)
    d.fences.Update(fence, [&](SyncRecord& r) { fence_state = r.current().shared; });
  if (!sem_state && !fence_state) return acquire(semaphore, fence);
  VkFence wait_fence = fence_state ? VK_NULL_HANDLE : fence;
  bool own_fence = false;
  if (wait_fence == VK_NULL_HANDLE) {
    VkFenceCreateInfo ci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (VkResult r = d.next.CreateFence(device, &ci, nullptr, &wait_fence); r != VK_SUCCESS) return r;
    own_fence = true;
  }
  VkResult r = acquire(sem_state ? VK_NULL_HANDLE : semaphore, wait_fence);
  if (r == VK_SUCCESS || r == VK_SUBOPTIMAL_KHR) {
    VkResult w = d.next.WaitForFences(device, 1, &wait_fence, VK_TRUE, UINT64_MAX);
    if (w != VK_SUCCESS) r = w;
  }
  if (r == VK_SUCCESS || r == VK_SUBOPTIMAL_KHR) {
    std::string error;
    if (sem_state && sem_state->Signal(1, &error) != shared_payload::Status::kOk) {
      ReportSharedPayloadFault(d, "vkAcquireNextImageKHR", *sem_state, error);
    }
    if (fence_state && fence_state->Signal(1, &error) != shared_payload::Status::kOk) {
      ReportSharedPayloadFault(d, "vkAcquireNextImageKHR", *fence_state, error);
    }
  }
  if (own_fence) d.next.DestroyFence(device, wait_fence, nullptr);
  return r;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL AcquireNextImageKHR(VkDevice device, VkSwapchainKHR swapchain,
                                                   uint64_t timeout, VkSemaphore semaphore, VkFence fence,
                                                   uint32_t* index) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0) {
    return d->next.AcquireNextImageKHR(device, swapchain, timeout, semaphore, fence, index);
  }
  return AcquireShared(*d, device, semaphore, fence, [&](VkSemaphore s, VkFence f) {
    return d->next.AcquireNextImageKHR(device, swapchain, timeout, s, f, index);
  });
}

VKAPI_ATTR VkResult VKAPI_CALL AcquireNextImage2KHR(VkDevice device, const VkAcquireNextImageInfoKHR* info,
                                                    uint32_t* index) {
  DeviceData* d = DeviceOf(device);
  if (d->submit_tracked.load(std::memory_order_relaxed) == 0 || info == nullptr) {
    return d->next.AcquireNextImage2KHR(device, info, index);
  }
  return AcquireShared(*d, device, info->semaphore, info->fence, [&](VkSemaphore s, VkFence f) {
    VkAcquireNextImageInfoKHR down = *info;
    down.semaphore = s;
    down.fence = f;
    return d->next.AcquireNextImage2KHR(device, &down, index);
  });
}

}  // namespace ntbridge

namespace ntbridge {

// Waiting for the queue (or the device) to be idle includes every fence and semaphore its submissions signal:
// what the GPU completed is published into the shared payloads before these return.
VKAPI_ATTR VkResult VKAPI_CALL QueueWaitIdle(VkQueue queue) {
  DeviceData* d = DeviceOf(queue);
  VkResult r = d->next.QueueWaitIdle(queue);
  if (r == VK_SUCCESS && d->submit_tracked.load(std::memory_order_relaxed) != 0)
    shared_payload::FlushBridgeOf(*d);
  return r;
}

VKAPI_ATTR VkResult VKAPI_CALL DeviceWaitIdle(VkDevice device) {
  DeviceData* d = DeviceOf(device);
  VkResult r = d->next.DeviceWaitIdle(device);
  if (r == VK_SUCCESS && d->submit_tracked.load(std::memory_order_relaxed) != 0)
    shared_payload::FlushBridgeOf(*d);
  return r;
}

}  // namespace ntbridge
