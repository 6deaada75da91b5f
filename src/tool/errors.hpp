// How the tool reports failures: what failed, and what to do about it.
#pragma once

#include <stdexcept>
#include <string>

#define VK_USE_PLATFORM_WIN32_KHR 1
#include <vulkan/vulkan.h>

namespace ntbridge::tool {

class ToolError : public std::runtime_error {
 public:
  ToolError(const std::string& what, std::string todo) : std::runtime_error(what), todo_(std::move(todo)) {}
  const std::string& todo() const { return todo_; }

 private:
  std::string todo_;
};

std::string ResultName(VkResult result);
// Throws ToolError("<call> failed: <VkResult>", todo) unless `result` is VK_SUCCESS.
void CheckVk(VkResult result, const std::string& call, const std::string& todo);

}  // namespace ntbridge::tool
