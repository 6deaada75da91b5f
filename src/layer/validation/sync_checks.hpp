// The rules semaphores and fences share (DESIGN.md §7: one handle model for both kinds), written once. Each
// kind supplies its VUIDs and the names its messages use (validate_semaphore.cpp, validate_fence.cpp), so a
// grep for a VUID still finds the file of its kind. Internal to src/layer/validation/.
#pragma once

#include <cstdint>
#include <string>

#include "validation/sync_rules.hpp"

namespace ntbridge::sync_checks {

// Names in the broker's namespace are at most MAX_PATH characters (DESIGN.md §2).
inline constexpr size_t kMaxNameLength = 260;

// What one object kind is, for messages and for the handle type tables.
struct KindRules {
  const char* object_field;  // "semaphore" / "fence": the member of the info structures
  const char* object_type;   // "VkSemaphore" / "VkFence"
  const char* extension;     // "VK_KHR_external_semaphore_win32" / "VK_KHR_external_fence_win32"
  const char* flag_bits;     // "VkExternalSemaphoreHandleTypeFlagBits" / "VkExternalFenceHandleTypeFlagBits"
  const char* properties;    // "VkExternalSemaphoreProperties" / "VkExternalFenceProperties"
  const char* (*type_name)(uint32_t type);
  uint32_t all_known_types;  // every bit the headers define
  uint32_t win32_types;      // defined as an NT handle or a global share handle
  uint32_t d3d_types;        // Direct3D: no payload on Linux
};

// vkCreateSemaphore / vkCreateFence: VkExport*CreateInfo and VkExport*Win32HandleInfoKHR.
struct CreateRules {
  const char* command;        // "vkCreateSemaphore"
  const char* export_struct;  // "VkExportSemaphoreCreateInfo"
  const char* win32_struct;   // "VkExportSemaphoreWin32HandleInfoKHR"
  uint32_t win32_info_types;  // VkExport*Win32HandleInfoKHR needs one of these in handleTypes
  const char* win32_info_types_text;
  const char* types_parameter;     // VkExport*CreateInfo-handleTypes-parameter
  const char* types_supported;     // 01124 / 01446
  const char* win32_without_type;  // 01125 / 01447
  const char* attributes_parameter;
};
struct CreateParams {
  const void* export_info;  // VkExport*CreateInfo in the chain, or nullptr
  uint32_t handle_types;    // its handleTypes
  const void* win32_info;   // VkExport*Win32HandleInfoKHR in the chain, or nullptr
  const SECURITY_ATTRIBUTES* attributes;
};
Violations CheckCreate(const KindRules& kind, const CreateRules& rules, const CreateParams& params,
                       const SyncSupportQuery& support);

// vkGet*Win32HandleKHR.
struct GetRules {
  const char* command;  // "vkGetSemaphoreWin32HandleKHR"
  VkStructureType stype;
  const char* stype_name;
  const char* export_struct;  // "VkExportSemaphoreCreateInfo"
  const char* device_parameter;
  const char* info_parameter;
  const char* handle_parameter;
  const char* stype_vuid;
  const char* pnext_vuid;
  const char* object_parameter;
  const char* type_parameter;
  const char* not_win32;     // 01131 / 01452
  const char* not_exported;  // 01126 / 01448
  const char* imported;      // 01128 / 01450
};
// The members VkSemaphoreGetWin32HandleInfoKHR and VkFenceGetWin32HandleInfoKHR share.
struct GetParams {
  VkStructureType sType;
  const void* pNext;
  uint64_t object;
  uint32_t handleType;
};
Violations CheckGet(const KindRules& kind, const GetRules& rules, bool extension_enabled,
                    const GetParams* info, const HANDLE* pHandle, const SyncRecord* record,
                    const SyncSupportQuery& support);

// vkImport*Win32HandleKHR: what the parameters alone decide.
struct ImportRules {
  const char* command;      // "vkImportSemaphoreWin32HandleKHR"
  const char* info_field;   // "pImportSemaphoreWin32HandleInfo"
  const char* info_struct;  // "VkImportSemaphoreWin32HandleInfoKHR"
  VkStructureType stype;
  const char* stype_name;
  uint32_t import_flags;  // every VkSemaphoreImportFlagBits / VkFenceImportFlagBits
  const char* import_flag_bits;
  uint32_t import_types;  // the "Handle Types Supported by VkImport*Win32HandleInfoKHR" table
  const char* import_types_text;
  uint32_t nameable_types;  // the types a name may be given with
  const char* nameable_types_text;
  const char* device_parameter;
  const char* info_parameter;
  const char* stype_vuid;
  const char* pnext_vuid;
  const char* object_parameter;
  const char* flags_parameter;
  const char* handle_and_name;  // 01469 / 01462
  const char* type_not_listed;  // 01140 / 01457
  const char* name_not_nt;      // 01466 / 01459
  const char* name_invalid;     // 01467 / 01460
  const char* handle_invalid;   // 01468 / 01461
};
// The members VkImportSemaphoreWin32HandleInfoKHR and VkImportFenceWin32HandleInfoKHR share.
struct ImportParams {
  VkStructureType sType;
  const void* pNext;
  uint64_t object;
  uint32_t flags;
  uint32_t handleType;
  HANDLE handle;
  LPCWSTR name;
};
Violations CheckImport(const KindRules& kind, const ImportRules& rules, bool extension_enabled,
                       const ImportParams* info, const SyncRecord* record);

// The compatibility table's "must match deviceUUID, driverUUID" for OPAQUE_WIN32 and OPAQUE_WIN32_KMT.
// `field`: "pImportSemaphoreWin32HandleInfo->handle" or "->name"; `vuid`: the rule for that field.
Violations CheckExporterUuids(const char* command, const std::string& field, const char* vuid,
                              const SyncExporter& exporter, const uint8_t (&device_uuid)[VK_UUID_SIZE],
                              const uint8_t (&driver_uuid)[VK_UUID_SIZE]);

}  // namespace ntbridge::sync_checks
