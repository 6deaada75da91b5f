// The semaphore and fence rules that differ only in their VUIDs and names. Messages are built only when a
// rule is broken: the passing path allocates nothing.
#include "validation/sync_checks.hpp"

#include <climits>
#include <cstring>

namespace ntbridge::sync_checks {
namespace {

// Feature bits of VkExternalSemaphoreFeatureFlagBits and VkExternalFenceFeatureFlagBits (the same values).
constexpr uint32_t kExportable = VK_EXTERNAL_SEMAPHORE_FEATURE_EXPORTABLE_BIT;
static_assert(kExportable == uint32_t(VK_EXTERNAL_FENCE_FEATURE_EXPORTABLE_BIT));

constexpr bool IsSingleBit(uint32_t bits) { return bits != 0 && (bits & (bits - 1)) == 0; }
constexpr uint32_t LowestBit(uint32_t bits) { return bits & (~bits + 1); }

std::string StructureTypeValue(VkStructureType type) { return std::to_string(static_cast<int64_t>(type)); }

// An empty query answers "nothing supported" rather than throwing std::bad_function_call across the C ABI.
SyncHandleSupport Ask(const SyncSupportQuery& support, uint32_t type) {
  return support ? support(type) : SyncHandleSupport{};
}

// Every bit of `bits`, by name, "|"-separated.
std::string TypeNames(const KindRules& kind, uint32_t bits) {
  std::string text;
  for (uint32_t rest = bits; rest != 0; rest &= rest - 1) {
    if (!text.empty()) text += " | ";
    text += kind.type_name(LowestBit(rest));
  }
  return text.empty() ? "0" : text;
}

std::string UuidText(const uint8_t (&uuid)[VK_UUID_SIZE]) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : uuid) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

}  // namespace

Violations CheckCreate(const KindRules& kind, const CreateRules& rules, const CreateParams& params,
                       const SyncSupportQuery& support) {
  const uint32_t types = params.export_info != nullptr ? params.handle_types : 0;
  if (params.export_info != nullptr) {
    auto field = [&] {
      return std::string(rules.command) + ": pCreateInfo->pNext<" + rules.export_struct +
             ">.handleTypes is " + Hex(types);
    };
    if ((types & kind.all_known_types) != types) {
      return {{rules.types_parameter, field() + ", which has bits (" + Hex(types & ~kind.all_known_types) +
                                          ") that " + kind.flag_bits + " does not define"}};
    }
    // Only the Win32 bits are the layer's to answer for: the rest reach the driver as they are, and the
    // Khronos layer below checks them against the driver's answer.
    for (uint32_t rest = types & kind.win32_types; rest != 0; rest &= rest - 1) {
      const uint32_t type = LowestBit(rest);
      const SyncHandleSupport s = Ask(support, type);
      if ((s.features & kExportable) == 0) {
        return {{rules.types_supported,
                 field() + ", which includes " + kind.type_name(type) +
                     ((type & kind.d3d_types)
                          ? ": Direct3D handle types have no payload on Linux, and " +
                                std::string(kind.properties) + " reports them as not supported"
                          : "; " + std::string(kind.properties) +
                                " does not report it as exportable on this device")}};
      }
      if ((types & ~s.compatible) != 0) {
        return {{rules.types_supported, field() + ", but " + kind.properties + "::compatibleHandleTypes of " +
                                            kind.type_name(type) + " is " + Hex(s.compatible) +
                                            ", which does not include " +
                                            TypeNames(kind, types & ~s.compatible)}};
      }
    }
  }
  if (params.win32_info == nullptr) return {};
  Violations out;
  if ((types & rules.win32_info_types) == 0) {
    // Not fatal: the layer takes nothing from the structure when no NT handle can be exported.
    out.push_back({rules.win32_without_type,
                   std::string(rules.command) + ": pCreateInfo->pNext includes " + rules.win32_struct +
                       ", but " +
                       (params.export_info == nullptr
                            ? std::string("no ") + rules.export_struct
                            : std::string(rules.export_struct) + "::handleTypes (" + Hex(types) + ")") +
                       " does not include " + rules.win32_info_types_text,
                   false});
  }
  if (params.attributes != nullptr && params.attributes->nLength != sizeof(SECURITY_ATTRIBUTES)) {
    // Not fatal: the layer reads only bInheritHandle.
    out.push_back({rules.attributes_parameter,
                   std::string(rules.command) + ": pCreateInfo->pNext<" + rules.win32_struct +
                       ">.pAttributes->nLength is " + std::to_string(params.attributes->nLength) +
                       ", not sizeof(SECURITY_ATTRIBUTES) (" + std::to_string(sizeof(SECURITY_ATTRIBUTES)) +
                       ")",
                   false});
  }
  return out;
}

Violations CheckGet(const KindRules& kind, const GetRules& rules, bool extension_enabled,
                    const GetParams* info, const HANDLE* pHandle, const SyncRecord* record,
                    const SyncSupportQuery& support) {
  auto cmd = [&] { return std::string(rules.command) + ": "; };
  if (!extension_enabled) {
    return {{rules.device_parameter, cmd() + "device was not created with " + kind.extension + " enabled"}};
  }
  if (info == nullptr) return {{rules.info_parameter, cmd() + "pGetWin32HandleInfo is NULL"}};
  if (info->sType != rules.stype) {
    return {{rules.stype_vuid, cmd() + "pGetWin32HandleInfo->sType is " + StructureTypeValue(info->sType) +
                                   ", not " + rules.stype_name}};
  }
  if (info->pNext != nullptr) {
    return {{rules.pnext_vuid, cmd() + "pGetWin32HandleInfo->pNext is " + Hex(info->pNext) + ", not NULL"}};
  }
  if (pHandle == nullptr) return {{rules.handle_parameter, cmd() + "pHandle is NULL"}};
  auto object = [&] { return cmd() + "pGetWin32HandleInfo->" + kind.object_field + " " + Hex(info->object); };
  if (record == nullptr) {
    return {{rules.object_parameter, object() + " is not a live " + kind.object_type + " of this device"}};
  }
  const uint32_t type = info->handleType;
  auto handle_type = [&] { return cmd() + "pGetWin32HandleInfo->handleType is " + kind.type_name(type); };
  if (!IsSingleBit(type) || (type & kind.all_known_types) != type) {
    return {{rules.type_parameter, handle_type() + ", not a single " + kind.flag_bits + " value"}};
  }
  if ((type & kind.win32_types) == 0) {
    return {
        {rules.not_win32, handle_type() + ", which is neither an NT handle nor a global share handle type"}};
  }
  const SyncPayloadRef& current = record->current();
  if (current.import_type == 0) {
    // The object's own payload, created with the export types the layer recorded.
    if ((record->export_types & type) == 0) {
      return {{rules.not_exported, handle_type() + ", which was not included in " + rules.export_struct +
                                       "::handleTypes (" + Hex(record->export_types) + ") when " +
                                       kind.object_field + " " + Hex(info->object) + " was created"}};
    }
    return {};
  }
  // An imported payload: whether it may be exported again is what the query answers for `type`.
  const SyncHandleSupport s = Ask(support, type);
  if ((s.export_from_imported & current.import_type) == 0) {
    return {{rules.imported, handle_type() + ", but " + kind.object_field + " " + Hex(info->object) +
                                 " holds a " + (record->temporary ? "temporarily" : "permanently") +
                                 " imported payload of type " + kind.type_name(current.import_type) +
                                 ", which " + kind.properties + "::exportFromImportedHandleTypes for " +
                                 kind.type_name(type) + " (" + Hex(s.export_from_imported) +
                                 ") does not include"}};
  }
  return {};
}

Violations CheckImport(const KindRules& kind, const ImportRules& rules, bool extension_enabled,
                       const ImportParams* info, const SyncRecord* record) {
  auto cmd = [&] { return std::string(rules.command) + ": "; };
  auto field = [&](const char* member) { return cmd() + rules.info_field + "->" + member; };
  if (!extension_enabled) {
    return {{rules.device_parameter, cmd() + "device was not created with " + kind.extension + " enabled"}};
  }
  if (info == nullptr) return {{rules.info_parameter, cmd() + rules.info_field + " is NULL"}};
  if (info->sType != rules.stype) {
    return {{rules.stype_vuid,
             field("sType") + " is " + StructureTypeValue(info->sType) + ", not " + rules.stype_name}};
  }
  if (info->pNext != nullptr) {
    return {{rules.pnext_vuid, field("pNext") + " is " + Hex(info->pNext) + ", not NULL"}};
  }
  if (record == nullptr) {
    return {{rules.object_parameter, field(kind.object_field) + " " + Hex(info->object) + " is not a live " +
                                         kind.object_type + " of this device"}};
  }
  if ((info->flags & ~rules.import_flags) != 0) {
    return {{rules.flags_parameter, field("flags") + " is " + Hex(info->flags) + ", which has bits (" +
                                        Hex(info->flags & ~rules.import_flags) + ") that " +
                                        rules.import_flag_bits + " does not define"}};
  }
  if (info->handle != nullptr && info->name != nullptr) {
    return {{rules.handle_and_name,
             field("handle") + " is " + Hex(info->handle) + " and name is not NULL; give one of them"}};
  }
  const uint32_t type = info->handleType;
  auto handle_type = [&] { return field("handleType") + " is " + kind.type_name(type); };
  if (!IsSingleBit(type) || (type & rules.import_types) != type) {
    return {{rules.type_not_listed, handle_type() + ", which is not in the Handle Types Supported by " +
                                        rules.info_struct + " table (" + rules.import_types_text + ")"}};
  }
  if (info->name != nullptr && (type & rules.nameable_types) == 0) {
    return {{rules.name_not_nt, field("name") + " is not NULL and handleType is " + kind.type_name(type) +
                                    ", which is not " + rules.nameable_types_text +
                                    "; only NT handles have names"}};
  }
  if (type & kind.d3d_types) {
    // The type is in the table, but no primitive of it exists here, so no name or handle can be one.
    return {{info->name != nullptr ? rules.name_invalid : rules.handle_invalid,
             handle_type() + ": Direct3D 12 has no fences on Linux, so " +
                 (info->name != nullptr ? "name names" : "handle is") + " no Direct3D 12 fence"}};
  }
  if (info->name != nullptr) {
    // A well-formed name that no live object has is a runtime failure (VK_ERROR_INVALID_EXTERNAL_HANDLE,
    // DESIGN.md §3): names come and go in other processes. Only a name that can name nothing is a
    // violation. Bounded: an unterminated name is read no further than one character past the longest.
    size_t length = 0;
    while (length <= kMaxNameLength && info->name[length] != L'\0') ++length;
    if (length == 0 || length > kMaxNameLength) {
      return {{rules.name_invalid,
               field("name") + " is " +
                   (length == 0 ? std::string("empty")
                                : "more than " + std::to_string(kMaxNameLength) + " characters long") +
                   ", so it names no synchronization primitive (names have 1 to " +
                   std::to_string(kMaxNameLength) + " characters)"}};
    }
    return {};
  }
  // No name: the handle itself must be one of handleType. Values no handle of that type can have are
  // violations; a well-formed one that is stale or not a sync payload is a runtime failure, decided where
  // the broker or the kernel is asked.
  if (info->handle == nullptr) {
    return {
        {rules.handle_invalid, field("handle") + " is NULL and name is NULL, so nothing is imported; give " +
                                   "a handle of " + kind.type_name(type) + " or, for NT handles, a name"}};
  }
  if (type & kSyncGlobalShareTypes) {
    const auto value = reinterpret_cast<uintptr_t>(info->handle);
    if (value > UINT32_MAX) {
      return {{rules.handle_invalid, field("handle") + " is " + Hex(info->handle) +
                                         ", which is not a valid " + kind.type_name(type) +
                                         " handle (global share handles are nonzero 32-bit values)"}};
    }
    return {};
  }
  const auto value = reinterpret_cast<intptr_t>(info->handle);
  if (value < 0 || value > INT_MAX) {
    // INVALID_HANDLE_VALUE among them: on Linux an NT handle is a file descriptor (DESIGN.md §2).
    return {{rules.handle_invalid, field("handle") + " is " + Hex(info->handle) + ", which is not a valid " +
                                       kind.type_name(type) +
                                       " handle (NT handles are file descriptors, 1 to INT_MAX)"}};
  }
  return {};
}

Violations CheckExporterUuids(const char* command, const std::string& field, const char* vuid,
                              const SyncExporter& exporter, const uint8_t (&device_uuid)[VK_UUID_SIZE],
                              const uint8_t (&driver_uuid)[VK_UUID_SIZE]) {
  if (std::memcmp(exporter.device_uuid, device_uuid, VK_UUID_SIZE) != 0) {
    return {{vuid, std::string(command) + ": " + field +
                       " was exported from a physical device with deviceUUID " +
                       UuidText(exporter.device_uuid) + ", not from this device's (" + UuidText(device_uuid) +
                       "); OPAQUE_WIN32 and OPAQUE_WIN32_KMT payloads require the same deviceUUID"}};
  }
  if (std::memcmp(exporter.driver_uuid, driver_uuid, VK_UUID_SIZE) != 0) {
    return {{vuid, std::string(command) + ": " + field + " was exported by a driver with driverUUID " +
                       UuidText(exporter.driver_uuid) + ", not by this device's driver (" +
                       UuidText(driver_uuid) +
                       "); OPAQUE_WIN32 and OPAQUE_WIN32_KMT payloads require the same driverUUID"}};
  }
  return {};
}

}  // namespace ntbridge::sync_checks

namespace ntbridge {

Violation SyncNtHandleFetchedTwice(SyncKind kind, uint64_t object, uint32_t handle_type) {
  const bool fence = kind == SyncKind::kFence;
  // Not fatal: another descriptor of the same payload can be made, so report_only may carry on.
  return {fence ? "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01449"
                : "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01127",
          std::string(fence ? "vkGetFenceWin32HandleKHR" : "vkGetSemaphoreWin32HandleKHR") +
              ": pGetWin32HandleInfo->handleType is " +
              (fence ? FenceHandleTypeName(handle_type) : SemaphoreHandleTypeName(handle_type)) +
              ", an NT handle type, and an NT handle of " + (fence ? "fence " : "semaphore ") + Hex(object) +
              " was already fetched; duplicate that handle instead",
          false};
}

}  // namespace ntbridge
