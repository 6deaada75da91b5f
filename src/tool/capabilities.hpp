// What a physical device can do with each external handle type: the rows of `ntbridge info`, one table per
// kind of object — memory (buffers and common image formats: vkGetPhysicalDeviceExternalBufferProperties,
// vkGetPhysicalDeviceImageFormatProperties2), semaphores (binary and timeline:
// vkGetPhysicalDeviceExternalSemaphoreProperties) and fences (vkGetPhysicalDeviceExternalFenceProperties).
// Every table is asked through ntbridge and of the driver alone (native_query.hpp) without further code.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "errors.hpp"
#include "json.hpp"

namespace ntbridge::tool {

// The three object kinds of DESIGN.md §7; each names its own handle type bits.
enum class ObjectKind { kMemory, kSemaphore, kFence };

struct Capability {
  bool supported = false;  // the query succeeded and some feature is present
  bool exportable = false;
  bool importable = false;
  bool dedicated_only = false;          // memory only
  std::vector<std::string> compatible;  // compatibleHandleTypes, by name ("OPAQUE_FD", ...)
  bool operator==(const Capability&) const = default;
};

struct CapabilityRow {
  std::string key;          // unique over all tables and stable: pairs a row with its native answer
  std::string resource;     // what is shared: "buffer", an image format, "binary", "timeline" or "fence"
  std::string handle_type;  // "OPAQUE_WIN32", ...
  std::function<Capability(VkPhysicalDevice)> query;
};

// Which payload ntbridge gives the objects of one row's resource (semaphores and fences, DESIGN.md §7),
// told by that resource's OPAQUE_WIN32 row through ntbridge.
struct PayloadProbe {
  std::string resource;  // "binary", "timeline", "fence"
  std::string row_key;   // its OPAQUE_WIN32 row
};

struct CapabilityTable {
  ObjectKind kind;
  std::string fd_extension;     // the driver's own extension ("VK_KHR_external_memory_fd")
  std::string win32_extension;  // the one ntbridge provides ("VK_KHR_external_memory_win32")
  // JSON members of a device: has the fd extension, has the Win32 one through ntbridge / natively, the rows,
  // the payloads (empty for memory, which has one kind of payload).
  std::string json_fd, json_through, json_native, json_rows, json_payload;
  std::string resource_heading;  // the first column's heading in the text table
  std::vector<CapabilityRow> rows;
  std::vector<PayloadProbe> payloads;
  const CapabilityRow* Find(const std::string& key) const;
};

const std::vector<CapabilityTable>& CapabilityTables();

// "OPAQUE_WIN32" for the OPAQUE_WIN32 bit of `kind`'s handle types, and so on ("0x40" for unknown bits).
std::string HandleTypeName(ObjectKind kind, uint32_t type);
std::vector<std::string> HandleTypeNames(ObjectKind kind, uint32_t types);

// The payload of a semaphore or fence as its OPAQUE_WIN32 answer through ntbridge tells it: the shared
// payload offers only the Win32 types, the driver's own payload is also compatible with OPAQUE_FD (the
// layer's queries_sync.cpp). `native_win32`: the driver has the Win32 extension itself (the layer steps
// aside). One of "driver" (the driver's opaque fd), "shared" (ntbridge's shared payload), "native" or
// "none" (not shareable as OPAQUE_WIN32).
std::string PayloadOf(const Capability& opaque_win32, bool native_win32);
// How the text output says it.
std::string PayloadText(const std::string& payload);

// A row's cell in the JSON output: {"queried": false} when not asked, else the features and compatible types.
Json CapabilityJson(const std::optional<Capability>& capability);
// The inverse, for answers from another process (throws Json::exception on a malformed cell).
std::optional<Capability> CapabilityFromJson(const Json& cell);

}  // namespace ntbridge::tool
