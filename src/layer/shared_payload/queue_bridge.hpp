// Connects queue operations with shared payloads (DESIGN.md §7), for one device. A GPU cannot wait on or
// signal a futex in a page of host memory, so:
//  - a queue signal of a shared payload becomes a signal of one of the bridge's private timeline semaphores;
//    the bridge's publisher thread waits for it on the host and then publishes into the shared state (so the
//    state changes only once the GPU work before the signal has completed);
//  - a queue wait on a shared payload becomes a wait on a private timeline semaphore; the bridge's gate
//    thread waits for the shared state on the host and then signals it (so the GPU work after the wait starts
//    only once the state allows).
// Two threads per device, whatever the number of payloads; both stop when the device is destroyed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "shared_payload/sync_state.hpp"
#include "vk_win32.hpp"

namespace ntbridge {
struct DeviceData;
}

namespace ntbridge::shared_payload {

// A private timeline semaphore and the value a submission signals or waits for.
struct Ticket {
  VkSemaphore semaphore = VK_NULL_HANDLE;
  uint64_t value = 0;
};

// What to publish into a shared state once a queue signal completes.
struct Publish {
  std::shared_ptr<SyncState> state;
  uint64_t value = 0;  // timeline: the signalled value; binary and fence: ignored
  // Fences: the layer's record learns that the submission completed (fence_pending), keyed by this handle.
  VkFence fence = VK_NULL_HANDLE;
};

class QueueBridge {
 public:
  // Starts the threads. nullptr on failure, `error` saying why.
  static std::unique_ptr<QueueBridge> Create(DeviceData& device, std::string* error);
  ~QueueBridge();  // stops and joins both threads, destroys the private semaphores
  QueueBridge(const QueueBridge&) = delete;
  QueueBridge& operator=(const QueueBridge&) = delete;

  // Two phases, so that a submission the driver refuses leaves nothing behind: Reserve before the driver
  // call, then Commit* after it succeeded or Unreserve after it failed.
  VkResult Reserve(Ticket* ticket);
  void Unreserve(const Ticket& ticket);
  // The submission signals `ticket`; once the GPU gets there, each of `publishes` is published.
  void CommitSignal(const Ticket& ticket, std::vector<Publish> publishes);
  // The submission waits on `ticket`; it is signalled once `state` allows: timeline counter >= value, binary
  // or fence signalled (a binary semaphore's signal is consumed by this wait).
  void CommitWait(const Ticket& ticket, std::shared_ptr<SyncState> state, uint64_t value, bool consume);

  // A host signal: signals `state` (SyncState::Signal, which wakes its sleepers in every process) and
  // releases the queue waits of this device that it satisfies (timeline semaphores) by driver signals of
  // their private semaphores, made by this thread before the wake, so that the GPU work behind them is one
  // thread hop nearer than through the gate (which wakes too and mostly finds them gone). Binary semaphores
  // and fences: the gate releases them.
  Status SignalAndRelease(SyncState& state, uint64_t value, std::string* error);

  // vkQueueWaitIdle / vkDeviceWaitIdle returned: every queue signal the GPU has completed is published before
  // this returns (the application may look at the shared state right after), whether this thread or the
  // publisher does it.
  void Flush();

  // How many threads the bridge runs (for tests of the bound).
  static constexpr int kThreads = 2;

 private:
  explicit QueueBridge(DeviceData& device) : device_(device) {}
  void PublisherLoop();
  void GateLoop();
  void Report(const std::string& message) const;

  struct SignalJob {
    Ticket ticket;
    std::vector<Publish> publishes;
  };
  struct WaitJob {
    Ticket ticket;
    std::shared_ptr<SyncState> state;
    uint64_t value = 0;
    bool consume = false;
  };
  // Moves the signal jobs whose private semaphore has reached its value out of signals_ into `out` and counts
  // them in publishing_ (mutex_ held).
  void TakeCompleted(std::vector<SignalJob>* out);
  // Publishes `jobs` (mutex_ not held), gives their tickets back and counts them out of publishing_, then
  // releases the queue waits that the published values satisfy (ReleaseJobs).
  void PublishJobs(std::vector<SignalJob>& jobs);
  // SyncState::Signal, and the queue waits of this device that the signal satisfies moved into `released`:
  // taken before the wake where mutex_ is free at that moment (so that the gate, woken with the payload's
  // other sleepers, finds them gone), else after it (never waiting for mutex_ before the wake: it is held
  // across driver calls). With `signalled`, the waits taken before the wake are also signalled there
  // (SignalJobs; `signalled` gets their results, the first signalled->size() of `released`); without it
  // (the publisher) every driver call is the caller's, after the wake.
  Status SignalAndTake(SyncState& state, uint64_t value, std::string* error, std::vector<WaitJob>* released,
                       std::vector<VkResult>* signalled);
  // Moves the queue waits of this device that `value` of the timeline `state` satisfies out of waits_ into
  // `out` (binary semaphores and fences: none). With `wait` false, gives up (false) where mutex_ is held.
  bool TakeSatisfiedWaits(const SyncState& state, uint64_t value, std::vector<WaitJob>* out, bool wait);
  // Signals each job's private semaphore (a driver call each; mutex_ not held) and gives its ticket back. A
  // ticket whose signal the driver refused is reported and retired, never handed out again: its
  // semaphore's counter is then unknown, while Reserve counts on it being exactly the ticket's value.
  void ReleaseJobs(std::span<const WaitJob> jobs);
  // The two halves of ReleaseJobs: the driver calls (mutex_ not taken) and the tickets' return or retirement.
  void SignalJobs(std::span<const WaitJob> jobs, std::vector<VkResult>* results);
  void RecycleJobs(std::span<const WaitJob> jobs, const std::vector<VkResult>& results);

  DeviceData& device_;
  std::mutex mutex_;
  bool stopping_ = false;
  std::vector<Ticket> free_;  // private timeline semaphores whose last value has been reached
  std::vector<VkSemaphore> all_;
  std::vector<SignalJob> signals_;
  int publishing_ = 0;                 // jobs taken out of signals_ and not yet published (mutex_)
  std::condition_variable published_;  // publishing_ went down
  std::vector<WaitJob> waits_;
  // Wakes the publisher when it has nothing pending (a queue signal was committed, or the device's end).
  Doorbell publisher_bell_;
  // Wakes the gate out of WaitMany.
  Doorbell doorbell_;
  std::thread publisher_;
  std::thread gate_;
};

// The device's bridge, if it has made one, publishes what the GPU completed (QueueBridge::Flush): host
// commands that read or reset shared payloads call it first, so that they see what a driver object would
// show.
void FlushBridgeOf(DeviceData& device);
// A host signal of `state`: through the device's bridge, if it has made one (QueueBridge::SignalAndRelease),
// else SyncState::Signal.
Status SignalAndReleaseWaits(DeviceData& device, SyncState& state, uint64_t value, std::string* error);

}  // namespace ntbridge::shared_payload
