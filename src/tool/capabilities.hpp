// What a physical device can do with each external handle type: the rows of `ntbridge info`, one table per
// kind of object. Memory has one now (buffers and common image formats,
// vkGetPhysicalDeviceExternalBufferProperties and vkGetPhysicalDeviceImageFormatProperties2); semaphores and
// fences get tables of their own in CapabilityTables(), and every table is asked through ntbridge and of
// the driver alone (native_query.hpp) without further code.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "errors.hpp"
#include "json.hpp"

namespace ntbridge::tool {

struct Capability {
  bool supported = false;  // the query succeeded and some feature is present
  bool exportable = false;
  bool importable = false;
  bool dedicated_only = false;
  std::vector<std::string> compatible;  // compatibleHandleTypes, by name ("OPAQUE_FD", ...)
  bool operator==(const Capability&) const = default;
};

struct CapabilityRow {
  std::string key;          // unique over all tables and stable: pairs a row with its native answer
  std::string resource;     // what is shared: "buffer" or an image format
  std::string handle_type;  // "OPAQUE_WIN32", ...
  std::function<Capability(VkPhysicalDevice)> query;
};

struct CapabilityTable {
  std::string fd_extension;     // the driver's own extension ("VK_KHR_external_memory_fd")
  std::string win32_extension;  // the one ntbridge provides ("VK_KHR_external_memory_win32")
  // JSON members of a device: has the fd extension, has the Win32 one through ntbridge / natively, the rows.
  std::string json_fd, json_through, json_native, json_rows;
  std::string resource_heading;  // the first column's heading in the text table
  std::vector<CapabilityRow> rows;
};

const std::vector<CapabilityTable>& CapabilityTables();

// "OPAQUE_WIN32" for VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, and so on.
std::string HandleTypeName(VkExternalMemoryHandleTypeFlagBits type);
std::vector<std::string> HandleTypeNames(VkExternalMemoryHandleTypeFlags types);

// A row's cell in the JSON output: {"queried": false} when not asked, else the features and compatible types.
Json CapabilityJson(const std::optional<Capability>& capability);
// The inverse, for answers from another process (throws Json::exception on a malformed cell).
std::optional<Capability> CapabilityFromJson(const Json& cell);

}  // namespace ntbridge::tool
