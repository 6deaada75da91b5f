// VK_KHR_external_fence_win32: vkCreateFence with export structures, vkGetFenceWin32HandleKHR and
// vkImportFenceWin32HandleKHR. The rules fences share with semaphores are in sync_checks.cpp; this file names
// the fence's VUIDs.
#include "pnext.hpp"
#include "validation/sync_checks.hpp"

namespace ntbridge {
namespace {

using sync_checks::CreateParams;
using sync_checks::GetParams;
using sync_checks::ImportParams;

constexpr const char* kImportCommand = "vkImportFenceWin32HandleKHR";

constexpr sync_checks::KindRules kFence{
    .object_field = "fence",
    .object_type = "VkFence",
    .extension = "VK_KHR_external_fence_win32",
    .flag_bits = "VkExternalFenceHandleTypeFlagBits",
    .properties = "VkExternalFenceProperties",
    .type_name = FenceHandleTypeName,
    .all_known_types = kAllKnownFenceTypes,
    .win32_types = kFenceWin32Types,
    .d3d_types = 0,  // no Direct3D fence handle type
};

// The NT handle type: the only one a name may be given with (01459), and that VkExportFenceWin32HandleInfoKHR
// describes (01447).
constexpr uint32_t kNamedTypes = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr const char* kNamedTypesText = "VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT";

constexpr sync_checks::CreateRules kCreate{
    .command = "vkCreateFence",
    .export_struct = "VkExportFenceCreateInfo",
    .win32_struct = "VkExportFenceWin32HandleInfoKHR",
    .win32_info_types = kNamedTypes,
    .win32_info_types_text = kNamedTypesText,
    .types_parameter = "VUID-VkExportFenceCreateInfo-handleTypes-parameter",
    .types_supported = "VUID-VkExportFenceCreateInfo-handleTypes-01446",
    .win32_without_type = "VUID-VkExportFenceWin32HandleInfoKHR-handleTypes-01447",
    .attributes_parameter = "VUID-VkExportFenceWin32HandleInfoKHR-pAttributes-parameter",
};

constexpr sync_checks::GetRules kGet{
    .command = "vkGetFenceWin32HandleKHR",
    .stype = VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR,
    .stype_name = "VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR",
    .export_struct = "VkExportFenceCreateInfo",
    .device_parameter = "VUID-vkGetFenceWin32HandleKHR-device-parameter",
    .info_parameter = "VUID-vkGetFenceWin32HandleKHR-pGetWin32HandleInfo-parameter",
    .handle_parameter = "VUID-vkGetFenceWin32HandleKHR-pHandle-parameter",
    .stype_vuid = "VUID-VkFenceGetWin32HandleInfoKHR-sType-sType",
    .pnext_vuid = "VUID-VkFenceGetWin32HandleInfoKHR-pNext-pNext",
    .object_parameter = "VUID-VkFenceGetWin32HandleInfoKHR-fence-parameter",
    .type_parameter = "VUID-VkFenceGetWin32HandleInfoKHR-handleType-parameter",
    .not_win32 = "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01452",
    .not_exported = "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01448",
    .imported = "VUID-VkFenceGetWin32HandleInfoKHR-fence-01450",
};

constexpr sync_checks::ImportRules kImport{
    .command = kImportCommand,
    .info_field = "pImportFenceWin32HandleInfo",
    .info_struct = "VkImportFenceWin32HandleInfoKHR",
    .stype = VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR,
    .stype_name = "VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR",
    .import_flags = VK_FENCE_IMPORT_TEMPORARY_BIT,
    .import_flag_bits = "VkFenceImportFlagBits",
    .import_types = kFenceWin32Types,
    .import_types_text = "OPAQUE_WIN32, OPAQUE_WIN32_KMT",
    .nameable_types = kNamedTypes,
    .nameable_types_text = kNamedTypesText,
    .device_parameter = "VUID-vkImportFenceWin32HandleKHR-device-parameter",
    .info_parameter = "VUID-vkImportFenceWin32HandleKHR-pImportFenceWin32HandleInfo-parameter",
    .stype_vuid = "VUID-VkImportFenceWin32HandleInfoKHR-sType-sType",
    .pnext_vuid = "VUID-VkImportFenceWin32HandleInfoKHR-pNext-pNext",
    .object_parameter = "VUID-VkImportFenceWin32HandleInfoKHR-fence-parameter",
    .flags_parameter = "VUID-VkImportFenceWin32HandleInfoKHR-flags-parameter",
    .handle_and_name = "VUID-VkImportFenceWin32HandleInfoKHR-handle-01462",
    .type_not_listed = "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01457",
    .name_not_nt = "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01459",
    .name_invalid = "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01460",
    .handle_invalid = "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461",
};

}  // namespace

Violations ValidateCreateFence(const VkFenceCreateInfo& info, const SyncSupportQuery& support) {
  auto* export_info =
      FindInChain<VkExportFenceCreateInfo>(info.pNext, VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO);
  auto* win32 = FindInChain<VkExportFenceWin32HandleInfoKHR>(
      info.pNext, VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR);
  const CreateParams params{export_info, export_info != nullptr ? export_info->handleTypes : 0u, win32,
                            win32 != nullptr ? win32->pAttributes : nullptr};
  return sync_checks::CheckCreate(kFence, kCreate, params, support);
}

Violations ValidateGetFenceWin32Handle(bool extension_enabled, const VkFenceGetWin32HandleInfoKHR* info,
                                       const HANDLE* pHandle, const SyncRecord* record,
                                       const SyncSupportQuery& support) {
  GetParams params{};
  if (info != nullptr) {
    params = {.sType = info->sType,
              .pNext = info->pNext,
              .object = uint64_t(info->fence),
              .handleType = uint32_t(info->handleType)};
  }
  return sync_checks::CheckGet(kFence, kGet, extension_enabled, info != nullptr ? &params : nullptr, pHandle,
                               record, support);
}

Violations ValidateImportFenceWin32Handle(bool extension_enabled, const VkImportFenceWin32HandleInfoKHR* info,
                                          const SyncRecord* record) {
  ImportParams params{};
  if (info != nullptr) {
    params = {.sType = info->sType,
              .pNext = info->pNext,
              .object = uint64_t(info->fence),
              .flags = uint32_t(info->flags),
              .handleType = uint32_t(info->handleType),
              .handle = info->handle,
              .name = info->name};
  }
  Violations out = sync_checks::CheckImport(kFence, kImport, extension_enabled,
                                            info != nullptr ? &params : nullptr, record);
  if (!out.empty()) return out;
  // Last: a broken parameter is reported whatever the fence's state, so waiting for the fence never hides
  // one.
  if (record->fence_pending) {
    return {{"VUID-vkImportFenceWin32HandleKHR-fence-04448",
             std::string(kImportCommand) + ": pImportFenceWin32HandleInfo->fence " +
                 Hex(uint64_t(info->fence)) +
                 " is associated with a queue submission that has not completed; wait for it "
                 "(vkWaitForFences) before importing a payload into it"}};
  }
  return {};
}

Violations ValidateImportFenceFromExporter(const VkImportFenceWin32HandleInfoKHR& info,
                                           const SyncRecord& record, const SyncExporter& exporter,
                                           const uint8_t (&device_uuid)[VK_UUID_SIZE],
                                           const uint8_t (&driver_uuid)[VK_UUID_SIZE]) {
  // The record is not needed: fences have no creation parameter the compatibility table compares.
  (void)record;
  if (exporter.kind != SyncKind::kFence) return {};
  const bool named = info.name != nullptr;
  return sync_checks::CheckExporterUuids(
      kImportCommand, std::string("pImportFenceWin32HandleInfo->") + (named ? "name" : "handle"),
      named ? "VUID-VkImportFenceWin32HandleInfoKHR-name-01540"
            : "VUID-VkImportFenceWin32HandleInfoKHR-handle-01539",
      exporter, device_uuid, driver_uuid);
}

}  // namespace ntbridge
