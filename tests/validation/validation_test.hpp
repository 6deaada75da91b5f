// Negative tests: each expects exactly one message, the VUID under test, from ntbridge, and a failed command.
#pragma once

#include <string>

#include "vk_fixture.hpp"

namespace ntbridge::test {

inline constexpr VkDeviceSize kSize = 64 * 1024;
inline constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr auto kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
inline constexpr auto kFd = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
inline constexpr auto kD3D11 = VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT;
// A bit VkExternalMemoryHandleTypeFlagBits does not define.
inline constexpr auto kUndefinedBit = static_cast<VkExternalMemoryHandleTypeFlagBits>(1u << 30);

inline HANDLE H(intptr_t v) { return reinterpret_cast<HANDLE>(v); }

// Asserts `monitor` holds exactly one message: an ERROR named `vuid` whose text names `command` and contains
// `detail`. Returns the text. Shared by the memory tests (ValidationTest) and the sync tests (SyncTest).
inline std::string ExpectOnlyMessage(Monitor& monitor, const char* vuid, const char* command,
                                     const std::string& detail = {}) {
  auto messages = monitor.Take();
  EXPECT_EQ(messages.size(), 1u) << Describe(messages);
  if (messages.size() != 1) return {};
  const Message& m = messages[0];
  EXPECT_EQ(m.id, vuid);
  EXPECT_EQ(m.severity, VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT);
  EXPECT_NE(m.text.find(command), std::string::npos) << m.text;
  EXPECT_NE(m.text.find(detail), std::string::npos) << "'" << detail << "' not in: " << m.text;
  EXPECT_NE(m.text.find("The Vulkan spec states:"), std::string::npos) << m.text;
  return m.text;
}

class ValidationTest : public LayerTest {
 protected:
  std::string ExpectOnly(const char* vuid, const char* command, const std::string& detail = {}) {
    return ExpectOnlyMessage(vk->monitor, vuid, command, detail);
  }

  VkResult GetHandle(const VkMemoryGetWin32HandleInfoKHR* info, HANDLE* handle) {
    return dev->GetMemoryWin32HandleKHR(dev->device, info, handle);
  }

  VkResult Allocate(const void* pnext, VkDeviceMemory* memory, VkDeviceSize size = kSize) {
    return dev->Allocate(size, dev->HostVisibleType(), pnext, memory);
  }
};

}  // namespace ntbridge::test
