// Capability queries: the application asks about Win32 types, the driver answers for its opaque fd type.
#include "dispatch.hpp"
#include "handle_types.hpp"
#include "hooks.hpp"
#include "pnext.hpp"

namespace ntbridge {
namespace {

void FromDriver(VkExternalMemoryProperties& p) {
  p.exportFromImportedHandleTypes = FromDriverTypes(p.exportFromImportedHandleTypes);
  p.compatibleHandleTypes = FromDriverTypes(p.compatibleHandleTypes);
}

}  // namespace

VKAPI_ATTR void VKAPI_CALL GetPhysicalDeviceExternalBufferProperties(
    VkPhysicalDevice gpu, const VkPhysicalDeviceExternalBufferInfo* info, VkExternalBufferProperties* props) {
  InstanceData* inst = InstanceOf(gpu);
  if (inst == nullptr || inst->next.GetPhysicalDeviceExternalBufferProperties == nullptr) return;
  if (info == nullptr || props == nullptr || !inst->Info(gpu).emulate) {
    inst->next.GetPhysicalDeviceExternalBufferProperties(gpu, info, props);
    return;
  }
  if (info->handleType & kD3DTypes) {
    // No Direct3D on Linux: no payload of these types can exist.
    props->externalMemoryProperties = {};
    return;
  }
  VkPhysicalDeviceExternalBufferInfo down = *info;
  down.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(ToDriverTypes(info->handleType));
  inst->next.GetPhysicalDeviceExternalBufferProperties(gpu, &down, props);
  FromDriver(props->externalMemoryProperties);
}

VKAPI_ATTR VkResult VKAPI_CALL GetPhysicalDeviceImageFormatProperties2(
    VkPhysicalDevice gpu, const VkPhysicalDeviceImageFormatInfo2* info, VkImageFormatProperties2* props) {
  InstanceData* inst = InstanceOf(gpu);
  if (inst == nullptr || inst->next.GetPhysicalDeviceImageFormatProperties2 == nullptr) {
    return VK_ERROR_INITIALIZATION_FAILED;
  }
  if (info == nullptr || props == nullptr || !inst->Info(gpu).emulate) {
    return inst->next.GetPhysicalDeviceImageFormatProperties2(gpu, info, props);
  }
  auto* external = FindInChain<VkPhysicalDeviceExternalImageFormatInfo>(
      info->pNext, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO);
  if (external == nullptr || (external->handleType & kWin32Types) == 0) {
    VkResult r = inst->next.GetPhysicalDeviceImageFormatProperties2(gpu, info, props);
    if (auto* out = const_cast<VkExternalImageFormatProperties*>(FindInChain<VkExternalImageFormatProperties>(
            props->pNext, VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES));
        r == VK_SUCCESS && out != nullptr) {
      FromDriver(out->externalMemoryProperties);
    }
    return r;
  }
  if (external->handleType & kD3DTypes) return VK_ERROR_FORMAT_NOT_SUPPORTED;

  ChainCopy chain(info->pNext);
  auto* copy = chain.Find<VkPhysicalDeviceExternalImageFormatInfo>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_IMAGE_FORMAT_INFO);
  if (!chain.ok() || copy == nullptr) return VK_ERROR_FORMAT_NOT_SUPPORTED;
  copy->handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(ToDriverTypes(copy->handleType));
  VkPhysicalDeviceImageFormatInfo2 down = *info;
  down.pNext = chain.head();
  VkResult r = inst->next.GetPhysicalDeviceImageFormatProperties2(gpu, &down, props);
  if (r != VK_SUCCESS) return r;
  if (auto* out = const_cast<VkExternalImageFormatProperties*>(FindInChain<VkExternalImageFormatProperties>(
          props->pNext, VK_STRUCTURE_TYPE_EXTERNAL_IMAGE_FORMAT_PROPERTIES))) {
    FromDriver(out->externalMemoryProperties);
  }
  return r;
}

}  // namespace ntbridge
