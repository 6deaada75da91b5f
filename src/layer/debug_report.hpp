// Reports through VK_EXT_debug_utils: to every messenger the application made, or to stderr when none.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "vk_win32.hpp"

namespace ntbridge {

class DebugReporter {
 public:
  // Messengers chained to VkInstanceCreateInfo live as long as the instance.
  void AddInstanceMessengers(const void* instance_create_pnext);
  void AddMessenger(VkDebugUtilsMessengerEXT handle, const VkDebugUtilsMessengerCreateInfoEXT& info);
  void RemoveMessenger(VkDebugUtilsMessengerEXT handle);

  // A Valid Usage violation: `vuid` is the message id name, severity ERROR, type VALIDATION.
  void Error(const char* vuid, const std::string& message) const;
  // Not a rule violation but a failure the application should hear about (bad handle, dead broker…).
  void Warning(const char* id, const std::string& message) const;
  void Info(const char* id, const std::string& message) const;

 private:
  struct Messenger {
    VkDebugUtilsMessengerEXT handle;
    VkDebugUtilsMessengerCreateInfoEXT info;
  };
  void Emit(VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
            const char* id, const std::string& message) const;

  mutable std::mutex mutex_;
  std::vector<Messenger> messengers_;
};

}  // namespace ntbridge
