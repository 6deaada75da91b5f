#include "debug_report.hpp"

#include <algorithm>
#include <cstdio>

#include "pnext.hpp"

namespace ntbridge {

void DebugReporter::AddInstanceMessengers(const void* chain) {
  std::lock_guard lock(mutex_);
  auto* s = static_cast<const VkBaseInStructure*>(chain);
  for (int i = 0; s != nullptr && i < kMaxChainLength; ++i, s = s->pNext) {
    if (s->sType == VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT) {
      auto info = *reinterpret_cast<const VkDebugUtilsMessengerCreateInfoEXT*>(s);
      info.pNext = nullptr;
      messengers_.push_back({VK_NULL_HANDLE, info});
    }
  }
}

void DebugReporter::AddMessenger(VkDebugUtilsMessengerEXT handle,
                                 const VkDebugUtilsMessengerCreateInfoEXT& info) {
  std::lock_guard lock(mutex_);
  auto copy = info;
  copy.pNext = nullptr;
  messengers_.push_back({handle, copy});
}

void DebugReporter::RemoveMessenger(VkDebugUtilsMessengerEXT handle) {
  std::lock_guard lock(mutex_);
  std::erase_if(messengers_,
                [&](const Messenger& m) { return m.handle == handle && handle != VK_NULL_HANDLE; });
}

void DebugReporter::Error(const char* vuid, const std::string& message) const {
  Emit(VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT, VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT, vuid,
       message);
}

void DebugReporter::Warning(const char* id, const std::string& message) const {
  Emit(VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT, VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT, id,
       message);
}

void DebugReporter::Info(const char* id, const std::string& message) const {
  Emit(VK_DEBUG_UTILS_MESSAGE_SEVERITY_INFO_BIT_EXT, VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT, id,
       message);
}

void DebugReporter::Emit(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                         VkDebugUtilsMessageTypeFlagsEXT type, const char* id,
                         const std::string& message) const {
  std::string text = std::string("[ntbridge] ") + message;
  VkDebugUtilsMessengerCallbackDataEXT data{};
  data.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CALLBACK_DATA_EXT;
  data.pMessageIdName = id;
  data.pMessage = text.c_str();

  // Callbacks run without the lock held: a callback may call back into Vulkan, and from there here.
  std::vector<Messenger> messengers;
  {
    std::lock_guard lock(mutex_);
    messengers = messengers_;
  }
  bool delivered = false;
  for (size_t i = 0; i < messengers.size(); ++i) {
    const Messenger& m = messengers[i];
    if ((m.info.messageSeverity & severity) == 0 || (m.info.messageType & type) == 0) continue;
    // The same callback registered twice (in VkInstanceCreateInfo and again later) hears the message once.
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) {
      seen = messengers[j].info.pfnUserCallback == m.info.pfnUserCallback &&
             messengers[j].info.pUserData == m.info.pUserData &&
             (messengers[j].info.messageSeverity & severity) != 0 &&
             (messengers[j].info.messageType & type) != 0;
    }
    delivered = true;
    if (!seen && m.info.pfnUserCallback != nullptr)
      m.info.pfnUserCallback(severity, type, &data, m.info.pUserData);
  }
  if (!delivered && messengers.empty() && severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    std::fprintf(stderr, "%s: %s %s\n",
                 severity == VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "ERROR" : "WARNING", id,
                 text.c_str());
  }
}

}  // namespace ntbridge
