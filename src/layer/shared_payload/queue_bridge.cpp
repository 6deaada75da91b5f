#include "shared_payload/queue_bridge.hpp"

#include <algorithm>
#include <cinttypes>

#include "dispatch.hpp"

namespace ntbridge::shared_payload {
namespace {

constexpr const char* kId = "ntbridge-shared-payload";

VkResult CreateTimeline(DeviceData& d, VkSemaphore* semaphore) {
  VkSemaphoreTypeCreateInfo type{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, nullptr,
                                 VK_SEMAPHORE_TYPE_TIMELINE, 0};
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &type, 0};
  return d.next.CreateSemaphore(d.device, &info, nullptr, semaphore);
}

std::string Describe(const SyncState& s) {
  char id[32];
  std::snprintf(id, sizeof id, "%016" PRIx64, s.id());
  return std::string("shared payload ") + id + " (" + KindName(s.kind()) + ")";
}

}  // namespace

std::unique_ptr<QueueBridge> QueueBridge::Create(DeviceData& device, std::string* error) {
  std::unique_ptr<QueueBridge> bridge(new QueueBridge(device));
  if (device.next.SignalSemaphore == nullptr || device.next.WaitSemaphores == nullptr ||
      device.next.GetSemaphoreCounterValue == nullptr) {
    *error = "the driver has no timeline semaphore commands (vkSignalSemaphore, vkWaitSemaphores)";
    return nullptr;
  }
  bridge->publisher_ = std::thread([b = bridge.get()] { b->PublisherLoop(); });
  bridge->gate_ = std::thread([b = bridge.get()] { b->GateLoop(); });
  return bridge;
}

QueueBridge::~QueueBridge() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  publisher_bell_.Ring();
  doorbell_.Ring();
  if (publisher_.joinable()) publisher_.join();
  if (gate_.joinable()) gate_.join();
  // Signals the GPU completed but the publisher had not yet taken: other processes may wait for them.
  std::vector<SignalJob> done;
  {
    std::lock_guard lock(mutex_);
    TakeCompleted(&done);
  }
  PublishJobs(done);
  for (VkSemaphore s : all_) device_.next.DestroySemaphore(device_.device, s, nullptr);
}

void QueueBridge::Report(const std::string& message) const {
  device_.instance->reporter.Warning(kId, message);
}

VkResult QueueBridge::Reserve(Ticket* ticket) {
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      *ticket = free_.back();
      free_.pop_back();
      ++ticket->value;
      return VK_SUCCESS;
    }
  }
  VkSemaphore s = VK_NULL_HANDLE;
  VkResult r = CreateTimeline(device_, &s);
  if (r != VK_SUCCESS) return r;
  std::lock_guard lock(mutex_);
  all_.push_back(s);
  *ticket = {s, 1};
  return VK_SUCCESS;
}

void QueueBridge::Unreserve(const Ticket& ticket) {
  std::lock_guard lock(mutex_);
  free_.push_back({ticket.semaphore, ticket.value - 1});  // the value was never used
}

void QueueBridge::CommitSignal(const Ticket& ticket, std::vector<Publish> publishes) {
  {
    std::lock_guard lock(mutex_);
    signals_.push_back({ticket, std::move(publishes)});
  }
  publisher_bell_.Ring();
}

void QueueBridge::CommitWait(const Ticket& ticket, std::shared_ptr<SyncState> state, uint64_t value,
                             bool consume) {
  {
    std::lock_guard lock(mutex_);
    waits_.push_back({ticket, std::move(state), value, consume});
  }
  doorbell_.Ring();
}

// Waits on the host for the oldest pending queue signal's private semaphore (one semaphore, with a short
// timeout: drivers that emulate timelines, as Mesa does, poll a wait-any in a loop), then publishes
// everything that completed. With nothing pending it sleeps on a futex until CommitSignal rings.
void QueueBridge::PublisherLoop() {
  constexpr uint64_t kSliceNs = 1000 * 1000;  // a signal completed out of order waits at most this long
  std::vector<SignalJob> done;
  for (;;) {
    const uint32_t bell = publisher_bell_.Load();
    Ticket oldest;
    bool pending = false;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      if (!signals_.empty()) {
        oldest = signals_.front().ticket;
        pending = true;
      }
    }
    if (!pending) {
      size_t first = 0;
      std::string error;
      WaitMany({}, true, Clock::time_point::max(), &publisher_bell_, bell, &first, &error);
      continue;
    }
    VkSemaphoreWaitInfo wait{
        VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, nullptr, 0, 1, &oldest.semaphore, &oldest.value};
    VkResult r = device_.next.WaitSemaphores(device_.device, &wait, kSliceNs);
    if (r != VK_SUCCESS && r != VK_TIMEOUT) {
      Report("the shared payload publisher cannot wait for queue signals: vkWaitSemaphores returned " +
             std::to_string(r) + "; shared semaphores and fences of this device no longer advance");
      // Nothing more can be published; wait for the device's end without spinning.
      for (;;) {
        {
          std::lock_guard lock(mutex_);
          if (stopping_) return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    done.clear();
    {
      std::lock_guard lock(mutex_);
      TakeCompleted(&done);
    }
    PublishJobs(done);
  }
}

void QueueBridge::TakeCompleted(std::vector<SignalJob>* out) {
  for (size_t i = 0; i < signals_.size();) {
    uint64_t value = 0;
    device_.next.GetSemaphoreCounterValue(device_.device, signals_[i].ticket.semaphore, &value);
    if (value >= signals_[i].ticket.value) {
      // In commit order: signals of one queue are published in submission order.
      out->push_back(std::move(signals_[i]));
      signals_.erase(signals_.begin() + static_cast<ptrdiff_t>(i));
      ++publishing_;
    } else {
      ++i;
    }
  }
}

void QueueBridge::PublishJobs(std::vector<SignalJob>& jobs) {
  std::vector<std::string> reports;
  std::vector<WaitJob> released;
  for (SignalJob& job : jobs) {
    for (Publish& p : job.publishes) {
      // A fence's submission is no longer pending once its payload can be seen signalled (04448).
      if (p.fence != VK_NULL_HANDLE) {
        device_.fences.Update(p.fence, [](SyncRecord& f) { f.fence_pending = false; });
      }
      std::string error;
      if (SignalAndTake(*p.state, p.value, &error, &released, nullptr) != Status::kOk) {
        reports.push_back("a queue signal could not be published into " + Describe(*p.state) + ": " + error);
      }
    }
  }
  if (!jobs.empty()) {
    {
      std::lock_guard lock(mutex_);
      for (const SignalJob& job : jobs) free_.push_back(job.ticket);
      publishing_ -= static_cast<int>(jobs.size());
    }
    published_.notify_all();
  }
  // After the count went down: an application callback may call vkQueueWaitIdle (Flush) from here, from a
  // report or from inside a driver call (a debug messenger of a layer below ours).
  ReleaseJobs(released);
  for (const std::string& r : reports) Report(r);
}

void QueueBridge::Flush() {
  std::vector<SignalJob> done;
  std::unique_lock lock(mutex_);
  TakeCompleted(&done);
  lock.unlock();
  PublishJobs(done);
  lock.lock();
  // What the publisher took before this call is published before it returns.
  published_.wait(lock, [&] { return publishing_ == 0; });
}

// Waits on the host for the shared states that pending queue waits are for, and signals each wait's private
// semaphore once its state allows.
void QueueBridge::GateLoop() {
  std::vector<WaitItem> items;
  std::vector<Ticket> tickets;                   // of each item: how its job is found again
  std::vector<std::shared_ptr<SyncState>> held;  // each item's state, alive while it is waited on
  std::vector<uint64_t> signalled;  // payloads that a queue signal pending here publishes into (sorted)
  for (;;) {
    uint32_t bell = doorbell_.Load();
    items.clear();
    tickets.clear();
    held.clear();
    signalled.clear();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      // Sorted once, looked up per wait: this runs on every wake of the gate, with as many waits and signals
      // pending as the application keeps in flight (a scan of every signal per wait cost the gate O(waits x
      // signals) per handoff: 16 000 comparisons with 128 of each).
      for (const SignalJob& s : signals_) {
        for (const Publish& p : s.publishes) signalled.push_back(p.state->id());
      }
      std::sort(signalled.begin(), signalled.end());
      for (const WaitJob& job : waits_) {
        // A queue signal of the same payload pending here can still satisfy it: never abandoned then.
        const bool local = std::binary_search(signalled.begin(), signalled.end(), job.state->id());
        items.push_back({job.state.get(), job.value, job.consume, local});
        tickets.push_back(job.ticket);
        held.push_back(job.state);
      }
    }
    size_t first = 0;
    std::string error;
    Status s = items.empty()
                   ? WaitMany({}, true, Clock::time_point::max(), &doorbell_, bell, &first, &error)
                   : WaitMany(items, true, Clock::time_point::max(), &doorbell_, bell, &first, &error);
    if (first >= items.size()) continue;  // the doorbell: new work, or the device's end
    WaitJob job;
    {
      std::lock_guard lock(mutex_);
      // A signal in this process may have taken the job meanwhile (SignalAndTake): then it is gone.
      auto it = std::find_if(waits_.begin(), waits_.end(), [&](const WaitJob& w) {
        return w.ticket.semaphore == tickets[first].semaphore && w.ticket.value == tickets[first].value;
      });
      if (it == waits_.end()) continue;
      job = std::move(*it);
      waits_.erase(it);
    }
    if (s == Status::kAbandoned) {
      Report("a queue wait on " + Describe(*job.state) +
             " can never be satisfied: every other process that could signal it has died (" + error +
             "); the work behind the wait is released so that the queue does not hang, but the data it "
             "reads was not produced");
    } else if (s == Status::kCorrupt || s == Status::kError) {
      Report("a queue wait on " + Describe(*job.state) + " failed: " + error +
             "; the work behind the wait is released so that the queue does not hang");
    }
    ReleaseJobs({&job, 1});
  }
}

bool QueueBridge::TakeSatisfiedWaits(const SyncState& state, uint64_t value, std::vector<WaitJob>* out,
                                     bool wait) {
  if (state.kind() != Kind::kTimelineSemaphore) return true;
  std::unique_lock lock(mutex_, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return false;
  }
  out->reserve(out->size() + waits_.size());  // no allocation (and so no throw) inside erase_if's predicate
  std::erase_if(waits_, [&](const WaitJob& w) {
    if (w.state->id() != state.id() || w.value > value) return false;
    out->push_back(w);
    return true;
  });
  return true;
}

void QueueBridge::SignalJobs(std::span<const WaitJob> jobs, std::vector<VkResult>* results) {
  for (const WaitJob& job : jobs) {
    VkSemaphoreSignalInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, job.ticket.semaphore,
                                 job.ticket.value};
    results->push_back(device_.next.SignalSemaphore(device_.device, &signal));
  }
}

void QueueBridge::RecycleJobs(std::span<const WaitJob> jobs, const std::vector<VkResult>& results) {
  for (size_t i = 0; i < jobs.size(); ++i) {
    const WaitJob& job = jobs[i];
    const VkResult r = i < results.size() ? results[i] : VK_ERROR_UNKNOWN;
    if (r == VK_SUCCESS) {
      std::lock_guard lock(mutex_);
      free_.push_back(job.ticket);
      continue;
    }
    // Handed out again, the semaphore would be waited on and signalled from a counter that is not the one
    // Reserve assumes: a later wait could pass early or a later signal fail. It stays in all_ until the end.
    Report("a queue wait on " + Describe(*job.state) +
           " was satisfied, but the driver could not signal the private timeline semaphore that the "
           "submission waits on (vkSignalSemaphore returned " +
           std::to_string(r) + "): the work behind the wait does not start; that semaphore is retired");
  }
}

void QueueBridge::ReleaseJobs(std::span<const WaitJob> jobs) {
  std::vector<VkResult> results;
  SignalJobs(jobs, &results);
  RecycleJobs(jobs, results);
}

// The order. The payload's sleepers in other processes wait for nothing the driver does, unless this device
// has queue waits that the signal satisfies: then, for a host signal (`signal_before_wake`), their private
// semaphores are signalled before the wake, so that the GPU work behind them starts a thread hop sooner than
// through the gate (docs/performance.md, "The queue wait's extra thread hop": the target of a queue wait
// costing no more than a wake-up is met that way), and the tickets go back after it. That driver call holds
// no lock of ours, so a debug messenger inside it may call anything, vkQueueWaitIdle included (Flush waits
// for the publisher, which waits for nothing of this thread's). The publisher makes its driver calls after
// the wake and after publishing_ went down (PublishJobs), where a Flush of its own would wait for itself.
Status QueueBridge::SignalAndTake(SyncState& state, uint64_t value, std::string* error,
                                  std::vector<WaitJob>* released, std::vector<VkResult>* signalled) {
  struct Take {
    QueueBridge* bridge;
    const SyncState* state;
    uint64_t value;
    std::vector<WaitJob>* released;
    std::vector<VkResult>* signalled;
    bool taken;
  } take{this, &state, value, released, signalled, false};
  auto before_wake = [](void* c) {
    auto* t = static_cast<Take*>(c);
    t->taken = t->bridge->TakeSatisfiedWaits(*t->state, t->value, t->released, false);
    if (t->taken && t->signalled != nullptr) t->bridge->SignalJobs(*t->released, t->signalled);
  };
  const Status s = state.Signal(value, error, {before_wake, &take});
  // Also where the value was reached already (no change, no wake): the waits at or below it are satisfied.
  if (s == Status::kOk && !take.taken) TakeSatisfiedWaits(state, value, released, true);
  return s;
}

Status QueueBridge::SignalAndRelease(SyncState& state, uint64_t value, std::string* error) {
  std::vector<WaitJob> released;
  std::vector<VkResult> signalled;
  const Status s = SignalAndTake(state, value, error, &released, &signalled);
  // Those signalled before the wake are recycled now; any taken after it are signalled now.
  const std::span<const WaitJob> before(released.data(), signalled.size());
  RecycleJobs(before, signalled);
  ReleaseJobs(std::span<const WaitJob>(released).subspan(signalled.size()));
  return s;
}

Status SignalAndReleaseWaits(DeviceData& device, SyncState& state, uint64_t value, std::string* error) {
  QueueBridge* bridge = nullptr;
  {
    std::lock_guard lock(device.bridge_mutex);
    bridge = device.bridge.get();
  }
  return bridge != nullptr ? bridge->SignalAndRelease(state, value, error) : state.Signal(value, error);
}

void FlushBridgeOf(DeviceData& device) {
  QueueBridge* bridge = nullptr;
  {
    std::lock_guard lock(device.bridge_mutex);
    bridge = device.bridge.get();
  }
  if (bridge != nullptr) bridge->Flush();
}

}  // namespace ntbridge::shared_payload
