#include "sync_handle_types.hpp"

#include <cstdio>
#include <string>

namespace ntbridge {
namespace {

// Several bits, or bits no header defines: a per-thread buffer keeps the pointer valid for the message.
const char* HexText(uint32_t type) {
  thread_local std::string text;
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%x", type);
  text = buf;
  return text.c_str();
}

}  // namespace

#define NTBRIDGE_NAME(bit) \
  case bit:                \
    return #bit;

const char* SemaphoreHandleTypeName(uint32_t type) {
  switch (type) {
    NTBRIDGE_NAME(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_ZIRCON_EVENT_BIT_FUCHSIA)
    case 0:
      return "0";
    default:
      return HexText(type);
  }
}

// The fence bits share values with the semaphore bits only up to OPAQUE_WIN32_KMT (fence SYNC_FD is the
// semaphore D3D12_FENCE value), so each kind has its own names.
const char* FenceHandleTypeName(uint32_t type) {
  switch (type) {
    NTBRIDGE_NAME(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT)
    NTBRIDGE_NAME(VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT)
    case 0:
      return "0";
    default:
      return HexText(type);
  }
}

#undef NTBRIDGE_NAME

}  // namespace ntbridge
