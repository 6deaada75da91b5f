#include "release_ring.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ntbridge {
namespace {

constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

std::string Failed(const char* call) { return std::string(call) + " failed: " + std::strerror(errno); }

ReleaseRingPage* MapPage(int fd, std::string* error) {
  void* p = mmap(nullptr, kReleaseRingBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *error = Failed("mmap");
    return nullptr;
  }
  return static_cast<ReleaseRingPage*>(p);
}

}  // namespace

std::unique_ptr<ReleaseRing> ReleaseRing::Create(int* client_fd, std::string* error) {
  *client_fd = -1;
  int fd = memfd_create("ntbridge-release-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    *error = Failed("memfd_create");
    return nullptr;
  }
  ReleaseRingPage* page = nullptr;
  if (ftruncate(fd, kReleaseRingBytes) != 0) {
    *error = Failed("ftruncate");
  } else if ((page = MapPage(fd, error)) != nullptr && fcntl(fd, F_ADD_SEALS, kSeals) != 0) {
    *error = Failed("fcntl(F_ADD_SEALS)");
    munmap(page, kReleaseRingBytes);
    page = nullptr;
  }
  if (page == nullptr) {
    close(fd);
    return nullptr;
  }
  // The memfd is zero-filled: the indexes and the doorbell start at 0.
  page->magic = kReleaseRingMagic;
  page->slots = kReleaseRingSlots;
  *client_fd = fd;
  return std::unique_ptr<ReleaseRing>(new ReleaseRing(page, 0));
}

std::unique_ptr<ReleaseRing> ReleaseRing::Map(int fd, std::string* error) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    *error = Failed("fstat");
    return nullptr;
  }
  // Sealed against shrinking: no holder can cut the page from under this mapping (which would be SIGBUS).
  const int seals = fcntl(fd, F_GET_SEALS);
  if (!S_ISREG(st.st_mode) || st.st_size != static_cast<off_t>(kReleaseRingBytes) || seals < 0 ||
      (seals & F_SEAL_SHRINK) == 0) {
    *error =
        "not a release ring: a sealed memfd of " + std::to_string(kReleaseRingBytes) + " bytes was expected";
    return nullptr;
  }
  ReleaseRingPage* page = MapPage(fd, error);
  if (page == nullptr) return nullptr;
  if (page->magic != kReleaseRingMagic || page->slots != kReleaseRingSlots) {
    *error = "not a release ring: its page has another magic or slot count";
    munmap(page, kReleaseRingBytes);
    return nullptr;
  }
  return std::unique_ptr<ReleaseRing>(new ReleaseRing(page, page->written.load(std::memory_order_relaxed)));
}

ReleaseRing::~ReleaseRing() { munmap(page_, kReleaseRingBytes); }

ReleaseRing::PushResult ReleaseRing::Push(uint64_t payload) {
  // A `taken` ahead of what was written (a broken page) makes the difference huge: full, never an overwrite.
  if (index_ - page_->taken.load(std::memory_order_acquire) >= kReleaseRingSlots) return PushResult::kFull;
  page_->slot[index_ % kReleaseRingSlots].store(payload, std::memory_order_relaxed);
  page_->written.store(++index_, std::memory_order_seq_cst);
  return page_->doorbell.load(std::memory_order_seq_cst) != 0 ? PushResult::kQueuedRing : PushResult::kQueued;
}

bool ReleaseRing::Claimed(uint64_t* written, std::string* why) const {
  *written = page_->written.load(std::memory_order_seq_cst);  // after SetDoorbell: see the header
  if (*written - index_ > kReleaseRingSlots) {
    *why = "its release ring claims " + std::to_string(*written - index_) +
           " unread releases where it holds " + std::to_string(kReleaseRingSlots) +
           " (the page was written by something else than its client)";
    return false;
  }
  return true;
}

void ReleaseRing::SetDoorbell(bool on) { page_->doorbell.store(on ? 1 : 0, std::memory_order_seq_cst); }

}  // namespace ntbridge
