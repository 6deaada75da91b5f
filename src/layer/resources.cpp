// Buffers and images that will be bound to external memory: their Win32 handle types become the fd type.
#include "dispatch.hpp"
#include "handle_types.hpp"
#include "hooks.hpp"
#include "pnext.hpp"
#include "validation.hpp"
#include "validation/rules.hpp"

namespace ntbridge {
namespace {

// Translates the handleTypes of the external memory structure of type `stype`
// (VkExternalMemoryBufferCreateInfo and VkExternalMemoryImageCreateInfo share their layout). Returns false
// when the create must fail.
template <typename External>
bool TranslateExternal(const DebugReporter& reporter, const char* command, const char* chain_vuid,
                       const char* struct_name, const void* pnext, VkStructureType stype, ChainCopy& chain,
                       bool* changed) {
  *changed = false;
  auto* original = FindInChain<External>(pnext, stype);
  if (original == nullptr) return true;
  if ((original->handleTypes & kWin32Types) == 0) {
    // Nothing to translate; still, undefined bits must not reach the driver.
    return !ReportViolations(reporter, ValidateExternalMemoryCreateInfo(command, original->handleTypes));
  }
  if (!chain.ok() || chain.Find<External>(stype) == nullptr) {
    ReportFatalViolation(reporter, chain_vuid,
                         std::string(command) +
                             ": pCreateInfo->pNext is cyclic, too long, or holds an unknown sType "
                             "before " +
                             struct_name);
    return false;
  }
  if (ReportViolations(reporter, ValidateExternalMemoryCreateInfo(command, original->handleTypes)))
    return false;
  External* copy = chain.Find<External>(stype);
  copy->handleTypes = ToDriverTypes(copy->handleTypes);
  *changed = true;
  return true;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL CreateBuffer(VkDevice device, const VkBufferCreateInfo* info,
                                            const VkAllocationCallbacks* allocator, VkBuffer* buffer) {
  DeviceData* d = DeviceOf(device);
  if (!d->win32_enabled || info == nullptr ||
      FindInChain(info->pNext, VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO) == nullptr) {
    return d->next.CreateBuffer(device, info, allocator, buffer);
  }
  ChainCopy chain(info->pNext);
  bool changed = false;
  if (!TranslateExternal<VkExternalMemoryBufferCreateInfo>(
          d->instance->reporter, "vkCreateBuffer", "VUID-VkBufferCreateInfo-pNext-pNext",
          "VkExternalMemoryBufferCreateInfo", info->pNext,
          VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO, chain, &changed)) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (!changed) return d->next.CreateBuffer(device, info, allocator, buffer);
  VkBufferCreateInfo down = *info;
  down.pNext = chain.head();
  return d->next.CreateBuffer(device, &down, allocator, buffer);
}

VKAPI_ATTR VkResult VKAPI_CALL CreateImage(VkDevice device, const VkImageCreateInfo* info,
                                           const VkAllocationCallbacks* allocator, VkImage* image) {
  DeviceData* d = DeviceOf(device);
  if (!d->win32_enabled || info == nullptr ||
      FindInChain(info->pNext, VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO) == nullptr) {
    return d->next.CreateImage(device, info, allocator, image);
  }
  ChainCopy chain(info->pNext);
  bool changed = false;
  if (!TranslateExternal<VkExternalMemoryImageCreateInfo>(
          d->instance->reporter, "vkCreateImage", "VUID-VkImageCreateInfo-pNext-pNext",
          "VkExternalMemoryImageCreateInfo", info->pNext, VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_IMAGE_CREATE_INFO,
          chain, &changed)) {
    return VK_ERROR_VALIDATION_FAILED_EXT;
  }
  if (!changed) return d->next.CreateImage(device, info, allocator, image);
  VkImageCreateInfo down = *info;
  down.pNext = chain.head();
  return d->next.CreateImage(device, &down, allocator, image);
}

}  // namespace ntbridge
