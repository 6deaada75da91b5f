// Pure mapping between the Win32 handle types the application sees and the fd types the driver has.
#pragma once

#include "vk_win32.hpp"

namespace ntbridge {

// The Win32 types whose payload ntbridge backs with the driver's opaque fd.
inline constexpr VkExternalMemoryHandleTypeFlags kOpaqueWin32Types =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

// Direct3D types: there is no Direct3D on Linux, so they have no payload.
inline constexpr VkExternalMemoryHandleTypeFlags kD3DTypes =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_KMT_BIT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT;

inline constexpr VkExternalMemoryHandleTypeFlags kWin32Types = kOpaqueWin32Types | kD3DTypes;

// NT handles own a reference; "global share" (KMT) handles do not (spec: external memory handle types).
inline constexpr VkExternalMemoryHandleTypeFlags kNtHandleTypes =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_RESOURCE_BIT | VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_BIT;
inline constexpr VkExternalMemoryHandleTypeFlags kGlobalShareTypes =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D11_TEXTURE_KMT_BIT;

// Every bit VkExternalMemoryHandleTypeFlagBits defines in the installed headers.
inline constexpr VkExternalMemoryHandleTypeFlags kAllKnownTypes =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT | kWin32Types |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_ANDROID_HARDWARE_BUFFER_BIT_ANDROID |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_MAPPED_FOREIGN_MEMORY_BIT_EXT |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_ZIRCON_VMO_BIT_FUCHSIA |
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_RDMA_ADDRESS_BIT_NV;

// Win32 opaque types become the opaque fd type; every other bit is left for the driver.
constexpr VkExternalMemoryHandleTypeFlags ToDriverTypes(VkExternalMemoryHandleTypeFlags types) {
  if (types & kOpaqueWin32Types) {
    types = (types & ~kOpaqueWin32Types) | VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT;
  }
  return types;
}

// The driver's answer, seen by the application: an opaque fd payload is also an opaque Win32 payload.
constexpr VkExternalMemoryHandleTypeFlags FromDriverTypes(VkExternalMemoryHandleTypeFlags types) {
  if (types & VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT) types |= kOpaqueWin32Types;
  return types;
}

constexpr bool IsSingleBit(VkExternalMemoryHandleTypeFlags types) {
  return types != 0 && (types & (types - 1)) == 0;
}

const char* HandleTypeName(VkExternalMemoryHandleTypeFlags type);

}  // namespace ntbridge
