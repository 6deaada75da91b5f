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
  VkResult r = CreateTimeline(device, &bridge->wake_);
  if (r != VK_SUCCESS) {
    *error = "cannot create a timeline semaphore: VkResult " + std::to_string(r);
    return nullptr;
  }
  bridge->publisher_ = std::thread([b = bridge.get()] { b->PublisherLoop(); });
  bridge->gate_ = std::thread([b = bridge.get()] { b->GateLoop(); });
  return bridge;
}

QueueBridge::~QueueBridge() {
  uint64_t wake = 0;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake = ++wake_value_;
  }
  if (wake_ != VK_NULL_HANDLE) {
    VkSemaphoreSignalInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, wake_, wake};
    device_.next.SignalSemaphore(device_.device, &signal);
  }
  doorbell_.Ring();
  if (publisher_.joinable()) publisher_.join();
  if (gate_.joinable()) gate_.join();
  for (VkSemaphore s : all_) device_.next.DestroySemaphore(device_.device, s, nullptr);
  if (wake_ != VK_NULL_HANDLE) device_.next.DestroySemaphore(device_.device, wake_, nullptr);
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
  uint64_t wake;
  {
    std::lock_guard lock(mutex_);
    signals_.push_back({ticket, std::move(publishes)});
    wake = ++wake_value_;
  }
  VkSemaphoreSignalInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, wake_, wake};
  device_.next.SignalSemaphore(device_.device, &signal);
}

void QueueBridge::CommitWait(const Ticket& ticket, std::shared_ptr<SyncState> state, uint64_t value,
                             bool consume) {
  {
    std::lock_guard lock(mutex_);
    waits_.push_back({ticket, std::move(state), value, consume});
  }
  doorbell_.Ring();
}

// Waits on the host for the private semaphores of pending queue signals (and the wake semaphore, so that new
// work or the device's end interrupts the wait), then publishes what completed.
void QueueBridge::PublisherLoop() {
  std::vector<VkSemaphore> semaphores;
  std::vector<uint64_t> values;
  std::vector<SignalJob> done;
  uint64_t wake_seen = 0;
  for (;;) {
    semaphores.clear();
    values.clear();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      wake_seen = wake_value_;
      for (const SignalJob& job : signals_) {
        semaphores.push_back(job.ticket.semaphore);
        values.push_back(job.ticket.value);
      }
    }
    semaphores.push_back(wake_);
    values.push_back(wake_seen + 1);
    VkSemaphoreWaitInfo wait{
        VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO,    nullptr,           VK_SEMAPHORE_WAIT_ANY_BIT,
        static_cast<uint32_t>(semaphores.size()), semaphores.data(), values.data()};
    VkResult r = device_.next.WaitSemaphores(device_.device, &wait, UINT64_MAX);
    if (r != VK_SUCCESS && r != VK_TIMEOUT) {
      Report("the shared payload publisher cannot wait for queue signals: vkWaitSemaphores returned " +
             std::to_string(r) + "; shared semaphores and fences of this device no longer advance");
      std::unique_lock lock(mutex_);
      // Nothing more can be published; wait for the device's end without spinning.
      while (!stopping_) {
        mutex_.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        mutex_.lock();
      }
      return;
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
      out->push_back(std::move(signals_[i]));
      signals_[i] = std::move(signals_.back());
      signals_.pop_back();
      ++publishing_;
    } else {
      ++i;
    }
  }
}

void QueueBridge::PublishJobs(std::vector<SignalJob>& jobs) {
  for (SignalJob& job : jobs) {
    for (Publish& p : job.publishes) {
      // A fence's submission is no longer pending once its payload can be seen signalled (04448).
      if (p.fence != VK_NULL_HANDLE) {
        device_.fences.Update(p.fence, [](SyncRecord& f) { f.fence_pending = false; });
      }
      std::string error;
      if (p.state->Signal(p.value, &error) != Status::kOk) {
        Report("a queue signal could not be published into " + Describe(*p.state) + ": " + error);
      }
    }
  }
  if (jobs.empty()) return;
  {
    std::lock_guard lock(mutex_);
    for (const SignalJob& job : jobs) free_.push_back(job.ticket);
    publishing_ -= static_cast<int>(jobs.size());
  }
  published_.notify_all();
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
  for (;;) {
    uint32_t bell = doorbell_.Load();
    items.clear();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      for (const WaitJob& job : waits_) items.push_back({job.state.get(), job.value, job.consume, false});
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
      // The jobs are only ever removed here, and appended elsewhere: index `first` is still that item.
      job = std::move(waits_[first]);
      waits_.erase(waits_.begin() + static_cast<ptrdiff_t>(first));
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
    VkSemaphoreSignalInfo signal{VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, nullptr, job.ticket.semaphore,
                                 job.ticket.value};
    device_.next.SignalSemaphore(device_.device, &signal);
    std::lock_guard lock(mutex_);
    free_.push_back(job.ticket);
  }
}

}  // namespace ntbridge::shared_payload
