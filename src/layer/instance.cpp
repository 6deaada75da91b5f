// Instance creation and the instance-level commands ntbridge changes.
#include <algorithm>
#include <cstring>

#include "dispatch.hpp"
#include "hooks.hpp"
#include "settings.hpp"

namespace ntbridge {
namespace {

template <typename Info>
Info* FindLinkInfo(const void* chain, VkStructureType type) {
  auto* s = static_cast<const VkBaseInStructure*>(chain);
  for (; s != nullptr; s = s->pNext) {
    if (s->sType == type && reinterpret_cast<const Info*>(s)->function == VK_LAYER_LINK_INFO) {
      return const_cast<Info*>(reinterpret_cast<const Info*>(s));
    }
  }
  return nullptr;
}

template <typename PFN>
PFN Load(PFN_vkGetInstanceProcAddr gipa, VkInstance instance, const char* name, const char* alias = nullptr) {
  auto f = reinterpret_cast<PFN>(gipa(instance, name));
  if (f == nullptr && alias != nullptr) f = reinterpret_cast<PFN>(gipa(instance, alias));
  return f;
}

VkExtensionProperties Extension(const char* name, uint32_t spec_version) {
  VkExtensionProperties p{};
  std::strncpy(p.extensionName, name, sizeof p.extensionName - 1);
  p.specVersion = spec_version;
  return p;
}

const VkExtensionProperties kWin32Extension =
    Extension(VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME, VK_KHR_EXTERNAL_MEMORY_WIN32_SPEC_VERSION);
const VkExtensionProperties kSemaphoreWin32Extension =
    Extension(VK_KHR_EXTERNAL_SEMAPHORE_WIN32_EXTENSION_NAME, VK_KHR_EXTERNAL_SEMAPHORE_WIN32_SPEC_VERSION);
const VkExtensionProperties kFenceWin32Extension =
    Extension(VK_KHR_EXTERNAL_FENCE_WIN32_EXTENSION_NAME, VK_KHR_EXTERNAL_FENCE_WIN32_SPEC_VERSION);

// The extensions the layer offers on a physical device, as it emulates them there.
std::vector<VkExtensionProperties> Offered(const PhysicalDeviceInfo& info) {
  std::vector<VkExtensionProperties> ours;
  if (info.emulate) ours.push_back(kWin32Extension);
  if (info.emulate_semaphore) ours.push_back(kSemaphoreWin32Extension);
  if (info.emulate_fence) ours.push_back(kFenceWin32Extension);
  return ours;
}

bool Named(const VkExtensionProperties& p, const char* name) {
  return std::strcmp(p.extensionName, name) == 0;
}

// The usual two-call enumeration over `props`.
VkResult Enumerate(const std::vector<VkExtensionProperties>& props, uint32_t* count,
                   VkExtensionProperties* out) {
  if (out == nullptr) {
    *count = static_cast<uint32_t>(props.size());
    return VK_SUCCESS;
  }
  uint32_t n = std::min<uint32_t>(*count, static_cast<uint32_t>(props.size()));
  std::copy_n(props.begin(), n, out);
  *count = n;
  return n < props.size() ? VK_INCOMPLETE : VK_SUCCESS;
}

}  // namespace

VKAPI_ATTR VkResult VKAPI_CALL CreateInstance(const VkInstanceCreateInfo* create_info,
                                              const VkAllocationCallbacks* allocator, VkInstance* instance) {
  auto* link = FindLinkInfo<VkLayerInstanceCreateInfo>(create_info->pNext,
                                                       VK_STRUCTURE_TYPE_LOADER_INSTANCE_CREATE_INFO);
  if (link == nullptr || link->u.pLayerInfo == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
  PFN_vkGetInstanceProcAddr gipa = link->u.pLayerInfo->pfnNextGetInstanceProcAddr;
  link->u.pLayerInfo = link->u.pLayerInfo->pNext;

  auto create = reinterpret_cast<PFN_vkCreateInstance>(gipa(VK_NULL_HANDLE, "vkCreateInstance"));
  VkResult result = create(create_info, allocator, instance);
  if (result != VK_SUCCESS) return result;

  auto data = std::make_unique<InstanceData>();
  data->instance = *instance;
  if (create_info->pApplicationInfo != nullptr && create_info->pApplicationInfo->apiVersion != 0) {
    data->api_version = create_info->pApplicationInfo->apiVersion;
  }
  ReloadSettings();
  data->force_enable = GetSettings().force_enable;
  data->reporter.AddInstanceMessengers(create_info->pNext);
  InstanceDispatch& n = data->next;
  VkInstance i = *instance;
  n.GetInstanceProcAddr = Load<PFN_vkGetInstanceProcAddr>(gipa, i, "vkGetInstanceProcAddr");
  n.DestroyInstance = Load<PFN_vkDestroyInstance>(gipa, i, "vkDestroyInstance");
  n.EnumerateDeviceExtensionProperties =
      Load<PFN_vkEnumerateDeviceExtensionProperties>(gipa, i, "vkEnumerateDeviceExtensionProperties");
  n.GetPhysicalDeviceProperties =
      Load<PFN_vkGetPhysicalDeviceProperties>(gipa, i, "vkGetPhysicalDeviceProperties");
  n.GetPhysicalDeviceProperties2 = Load<PFN_vkGetPhysicalDeviceProperties2>(
      gipa, i, "vkGetPhysicalDeviceProperties2", "vkGetPhysicalDeviceProperties2KHR");
  n.GetPhysicalDeviceExternalBufferProperties = Load<PFN_vkGetPhysicalDeviceExternalBufferProperties>(
      gipa, i, "vkGetPhysicalDeviceExternalBufferProperties",
      "vkGetPhysicalDeviceExternalBufferPropertiesKHR");
  n.GetPhysicalDeviceImageFormatProperties2 = Load<PFN_vkGetPhysicalDeviceImageFormatProperties2>(
      gipa, i, "vkGetPhysicalDeviceImageFormatProperties2", "vkGetPhysicalDeviceImageFormatProperties2KHR");
  n.GetPhysicalDeviceExternalSemaphoreProperties = Load<PFN_vkGetPhysicalDeviceExternalSemaphoreProperties>(
      gipa, i, "vkGetPhysicalDeviceExternalSemaphoreProperties",
      "vkGetPhysicalDeviceExternalSemaphorePropertiesKHR");
  n.GetPhysicalDeviceExternalFenceProperties = Load<PFN_vkGetPhysicalDeviceExternalFenceProperties>(
      gipa, i, "vkGetPhysicalDeviceExternalFenceProperties", "vkGetPhysicalDeviceExternalFencePropertiesKHR");
  n.GetPhysicalDeviceFeatures2 = Load<PFN_vkGetPhysicalDeviceFeatures2>(
      gipa, i, "vkGetPhysicalDeviceFeatures2", "vkGetPhysicalDeviceFeatures2KHR");
  n.CreateDebugUtilsMessengerEXT =
      Load<PFN_vkCreateDebugUtilsMessengerEXT>(gipa, i, "vkCreateDebugUtilsMessengerEXT");
  n.DestroyDebugUtilsMessengerEXT =
      Load<PFN_vkDestroyDebugUtilsMessengerEXT>(gipa, i, "vkDestroyDebugUtilsMessengerEXT");
  AddInstanceData(DispatchKey(*instance), std::move(data));
  return VK_SUCCESS;
}

VKAPI_ATTR void VKAPI_CALL DestroyInstance(VkInstance instance, const VkAllocationCallbacks* allocator) {
  if (instance == VK_NULL_HANDLE) return;
  auto data = RemoveInstanceData(DispatchKey(instance));
  if (data) data->next.DestroyInstance(instance, allocator);
}

VKAPI_ATTR VkResult VKAPI_CALL EnumerateDeviceExtensionProperties(VkPhysicalDevice gpu,
                                                                  const char* layer_name, uint32_t* count,
                                                                  VkExtensionProperties* props) {
  InstanceData* inst = InstanceOf(gpu);
  if (layer_name != nullptr && std::strcmp(layer_name, kLayerName) == 0) {
    std::vector<VkExtensionProperties> ours;
    if (inst == nullptr) {
      ours = {kWin32Extension, kSemaphoreWin32Extension, kFenceWin32Extension};
    } else {
      ours = Offered(inst->Info(gpu));
    }
    return Enumerate(ours, count, props);
  }
  if (inst == nullptr) return VK_ERROR_INITIALIZATION_FAILED;
  const PhysicalDeviceInfo info = inst->Info(gpu);
  std::vector<VkExtensionProperties> ours = Offered(info);
  if (layer_name != nullptr || ours.empty()) {
    return inst->next.EnumerateDeviceExtensionProperties(gpu, layer_name, count, props);
  }
  uint32_t n = 0;
  VkResult r = inst->next.EnumerateDeviceExtensionProperties(gpu, nullptr, &n, nullptr);
  if (r != VK_SUCCESS) return r;
  std::vector<VkExtensionProperties> all(n);
  r = inst->next.EnumerateDeviceExtensionProperties(gpu, nullptr, &n, all.data());
  if (r < VK_SUCCESS) return r;
  all.resize(n);
  // A name the driver has itself (forced emulation over a native implementation) is listed once.
  for (const VkExtensionProperties& e : ours) {
    if (std::none_of(all.begin(), all.end(), [&](const auto& p) { return Named(p, e.extensionName); })) {
      all.push_back(e);
    }
  }
  return Enumerate(all, count, props);
}

VKAPI_ATTR VkResult VKAPI_CALL CreateDebugUtilsMessengerEXT(VkInstance instance,
                                                            const VkDebugUtilsMessengerCreateInfoEXT* info,
                                                            const VkAllocationCallbacks* allocator,
                                                            VkDebugUtilsMessengerEXT* messenger) {
  InstanceData* inst = InstanceOf(instance);
  if (inst == nullptr || inst->next.CreateDebugUtilsMessengerEXT == nullptr)
    return VK_ERROR_EXTENSION_NOT_PRESENT;
  VkResult r = inst->next.CreateDebugUtilsMessengerEXT(instance, info, allocator, messenger);
  if (r == VK_SUCCESS) inst->reporter.AddMessenger(*messenger, *info);
  return r;
}

VKAPI_ATTR void VKAPI_CALL DestroyDebugUtilsMessengerEXT(VkInstance instance,
                                                         VkDebugUtilsMessengerEXT messenger,
                                                         const VkAllocationCallbacks* allocator) {
  InstanceData* inst = InstanceOf(instance);
  if (inst == nullptr || inst->next.DestroyDebugUtilsMessengerEXT == nullptr) return;
  inst->reporter.RemoveMessenger(messenger);
  inst->next.DestroyDebugUtilsMessengerEXT(instance, messenger, allocator);
}

}  // namespace ntbridge
