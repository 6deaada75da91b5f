// VK_KHR_external_semaphore_win32: vkCreateSemaphore with export structures, vkGetSemaphoreWin32HandleKHR,
// vkImportSemaphoreWin32HandleKHR, and VkD3D12FenceSubmitInfoKHR in vkQueueSubmit. The rules semaphores share
// with fences are in sync_checks.cpp; this file names the semaphore's VUIDs.
#include "pnext.hpp"
#include "validation/sync_checks.hpp"

namespace ntbridge {
namespace {

using sync_checks::CreateParams;
using sync_checks::GetParams;
using sync_checks::ImportParams;

constexpr const char* kImportCommand = "vkImportSemaphoreWin32HandleKHR";

constexpr sync_checks::KindRules kSemaphore{
    .object_field = "semaphore",
    .object_type = "VkSemaphore",
    .extension = "VK_KHR_external_semaphore_win32",
    .flag_bits = "VkExternalSemaphoreHandleTypeFlagBits",
    .properties = "VkExternalSemaphoreProperties",
    .type_name = SemaphoreHandleTypeName,
    .all_known_types = kAllKnownSemaphoreTypes,
    .win32_types = kSemaphoreWin32Types,
    .d3d_types = kSemaphoreD3DTypes,
};

// NT handle types: the only ones a name may be given with (01466), and that
// VkExportSemaphoreWin32HandleInfoKHR describes (01125).
constexpr uint32_t kNamedTypes =
    VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT | VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
constexpr const char* kNamedTypesText =
    "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT or VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT";

constexpr sync_checks::CreateRules kCreate{
    .command = "vkCreateSemaphore",
    .export_struct = "VkExportSemaphoreCreateInfo",
    .win32_struct = "VkExportSemaphoreWin32HandleInfoKHR",
    .win32_info_types = kNamedTypes,
    .win32_info_types_text = kNamedTypesText,
    .types_parameter = "VUID-VkExportSemaphoreCreateInfo-handleTypes-parameter",
    .types_supported = "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124",
    .win32_without_type = "VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125",
    .attributes_parameter = "VUID-VkExportSemaphoreWin32HandleInfoKHR-pAttributes-parameter",
};

constexpr sync_checks::GetRules kGet{
    .command = "vkGetSemaphoreWin32HandleKHR",
    .stype = VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR,
    .stype_name = "VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR",
    .export_struct = "VkExportSemaphoreCreateInfo",
    .device_parameter = "VUID-vkGetSemaphoreWin32HandleKHR-device-parameter",
    .info_parameter = "VUID-vkGetSemaphoreWin32HandleKHR-pGetWin32HandleInfo-parameter",
    .handle_parameter = "VUID-vkGetSemaphoreWin32HandleKHR-pHandle-parameter",
    .stype_vuid = "VUID-VkSemaphoreGetWin32HandleInfoKHR-sType-sType",
    .pnext_vuid = "VUID-VkSemaphoreGetWin32HandleInfoKHR-pNext-pNext",
    .object_parameter = "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-parameter",
    .type_parameter = "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-parameter",
    .not_win32 = "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01131",
    .not_exported = "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01126",
    .imported = "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-01128",
};

constexpr sync_checks::ImportRules kImport{
    .command = kImportCommand,
    .info_field = "pImportSemaphoreWin32HandleInfo",
    .info_struct = "VkImportSemaphoreWin32HandleInfoKHR",
    .stype = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR,
    .stype_name = "VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR",
    .import_flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT,
    .import_flag_bits = "VkSemaphoreImportFlagBits",
    .import_types = kSemaphoreWin32Types,
    .import_types_text = "OPAQUE_WIN32, OPAQUE_WIN32_KMT, D3D12_FENCE",
    .nameable_types = kNamedTypes,
    .nameable_types_text = kNamedTypesText,
    .device_parameter = "VUID-vkImportSemaphoreWin32HandleKHR-device-parameter",
    .info_parameter = "VUID-vkImportSemaphoreWin32HandleKHR-pImportSemaphoreWin32HandleInfo-parameter",
    .stype_vuid = "VUID-VkImportSemaphoreWin32HandleInfoKHR-sType-sType",
    .pnext_vuid = "VUID-VkImportSemaphoreWin32HandleInfoKHR-pNext-pNext",
    .object_parameter = "VUID-VkImportSemaphoreWin32HandleInfoKHR-semaphore-parameter",
    .flags_parameter = "VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-parameter",
    .handle_and_name = "VUID-VkImportSemaphoreWin32HandleInfoKHR-handle-01469",
    .type_not_listed = "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01140",
    .name_not_nt = "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01466",
    .name_invalid = "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467",
    .handle_invalid = "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468",
};

const char* SemaphoreTypeName(VkSemaphoreType type) {
  return type == VK_SEMAPHORE_TYPE_TIMELINE ? "VK_SEMAPHORE_TYPE_TIMELINE" : "VK_SEMAPHORE_TYPE_BINARY";
}

}  // namespace

Violations ValidateCreateSemaphore(const VkSemaphoreCreateInfo& info, const SyncSupportQuery& support) {
  auto* export_info =
      FindInChain<VkExportSemaphoreCreateInfo>(info.pNext, VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO);
  auto* win32 = FindInChain<VkExportSemaphoreWin32HandleInfoKHR>(
      info.pNext, VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR);
  const CreateParams params{export_info, export_info != nullptr ? export_info->handleTypes : 0u, win32,
                            win32 != nullptr ? win32->pAttributes : nullptr};
  return sync_checks::CheckCreate(kSemaphore, kCreate, params, support);
}

Violations ValidateGetSemaphoreWin32Handle(bool extension_enabled,
                                           const VkSemaphoreGetWin32HandleInfoKHR* info,
                                           const HANDLE* pHandle, const SyncRecord* record,
                                           const SyncSupportQuery& support) {
  GetParams params{};
  if (info != nullptr) {
    params = {.sType = info->sType,
              .pNext = info->pNext,
              .object = uint64_t(info->semaphore),
              .handleType = uint32_t(info->handleType)};
  }
  return sync_checks::CheckGet(kSemaphore, kGet, extension_enabled, info != nullptr ? &params : nullptr,
                               pHandle, record, support);
}

Violations ValidateImportSemaphoreWin32Handle(bool extension_enabled,
                                              const VkImportSemaphoreWin32HandleInfoKHR* info,
                                              const SyncRecord* record) {
  ImportParams params{};
  if (info != nullptr) {
    params = {.sType = info->sType,
              .pNext = info->pNext,
              .object = uint64_t(info->semaphore),
              .flags = uint32_t(info->flags),
              .handleType = uint32_t(info->handleType),
              .handle = info->handle,
              .name = info->name};
  }
  return sync_checks::CheckImport(kSemaphore, kImport, extension_enabled, info != nullptr ? &params : nullptr,
                                  record);
}

Violations ValidateImportSemaphoreFromExporter(const VkImportSemaphoreWin32HandleInfoKHR& info,
                                               const SyncRecord& record, const SyncExporter& exporter,
                                               const uint8_t (&device_uuid)[VK_UUID_SIZE],
                                               const uint8_t (&driver_uuid)[VK_UUID_SIZE]) {
  if (exporter.kind != SyncKind::kSemaphore) return {};
  const bool named = info.name != nullptr;
  const std::string field = std::string("pImportSemaphoreWin32HandleInfo->") + (named ? "name" : "handle");
  Violations out =
      sync_checks::CheckExporterUuids(kImportCommand, field,
                                      named ? "VUID-VkImportSemaphoreWin32HandleInfoKHR-name-01543"
                                            : "VUID-VkImportSemaphoreWin32HandleInfoKHR-handle-01542",
                                      exporter, device_uuid, driver_uuid);
  if (!out.empty() || (info.handleType & kSyncOpaqueWin32Types) == 0) return out;
  auto prefix = [&] {
    return std::string(kImportCommand) + ": " + field + " was exported from a semaphore ";
  };
  if (record.create_flags != exporter.create_flags) {
    return {{"VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03261",
             prefix() + "created with VkSemaphoreCreateInfo::flags " + Hex(exporter.create_flags) +
                 ", but pImportSemaphoreWin32HandleInfo->semaphore was created with flags " +
                 Hex(record.create_flags)}};
  }
  if (record.semaphore_type != exporter.semaphore_type) {
    return {{"VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262",
             prefix() + "of VkSemaphoreTypeCreateInfo::semaphoreType " +
                 SemaphoreTypeName(exporter.semaphore_type) +
                 ", but pImportSemaphoreWin32HandleInfo->semaphore is of semaphoreType " +
                 SemaphoreTypeName(record.semaphore_type)}};
  }
  if ((info.flags & VK_SEMAPHORE_IMPORT_TEMPORARY_BIT) &&
      exporter.semaphore_type == VK_SEMAPHORE_TYPE_TIMELINE) {
    return {{"VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-03322",
             std::string(kImportCommand) +
                 ": pImportSemaphoreWin32HandleInfo->flags includes VK_SEMAPHORE_IMPORT_TEMPORARY_BIT, but " +
                 field +
                 " was exported from a semaphore of semaphoreType VK_SEMAPHORE_TYPE_TIMELINE; "
                 "timeline payloads can only be imported permanently"}};
  }
  return {};
}

Violations ValidateD3D12FenceSubmitInfo(const VkSubmitInfo& submit, uint32_t index,
                                        const VkD3D12FenceSubmitInfoKHR& d3d12) {
  // Every rule here is safe to carry on from (not fatal): the values apply only to semaphores imported from
  // Direct3D 12 fences, which cannot exist on Linux, so the layer drops the structure unread.
  auto field = [&](const char* member) {
    return "vkQueueSubmit: pSubmits[" + std::to_string(index) + "].pNext<VkD3D12FenceSubmitInfoKHR>." +
           member;
  };
  auto count_of = [&](const char* member) { return "pSubmits[" + std::to_string(index) + "]." + member; };
  Violations out;
  if (d3d12.waitSemaphoreValuesCount != submit.waitSemaphoreCount) {
    out.push_back({"VUID-VkD3D12FenceSubmitInfoKHR-waitSemaphoreValuesCount-00079",
                   field("waitSemaphoreValuesCount") + " is " +
                       std::to_string(d3d12.waitSemaphoreValuesCount) + ", but " +
                       count_of("waitSemaphoreCount") + " is " + std::to_string(submit.waitSemaphoreCount),
                   false});
  }
  if (d3d12.signalSemaphoreValuesCount != submit.signalSemaphoreCount) {
    out.push_back({"VUID-VkD3D12FenceSubmitInfoKHR-signalSemaphoreValuesCount-00080",
                   field("signalSemaphoreValuesCount") + " is " +
                       std::to_string(d3d12.signalSemaphoreValuesCount) + ", but " +
                       count_of("signalSemaphoreCount") + " is " +
                       std::to_string(submit.signalSemaphoreCount),
                   false});
  }
  // A valid pointer to uint64_t values is aligned for them (the spec's definition of a valid pointer);
  // whether it points to readable memory cannot be known.
  auto misaligned = [](uint32_t count, const uint64_t* values) {
    return count != 0 && values != nullptr && reinterpret_cast<uintptr_t>(values) % alignof(uint64_t) != 0;
  };
  if (misaligned(d3d12.waitSemaphoreValuesCount, d3d12.pWaitSemaphoreValues)) {
    out.push_back({"VUID-VkD3D12FenceSubmitInfoKHR-pWaitSemaphoreValues-parameter",
                   field("pWaitSemaphoreValues") + " is " + Hex(d3d12.pWaitSemaphoreValues) +
                       ", which is not aligned for uint64_t values",
                   false});
  }
  if (misaligned(d3d12.signalSemaphoreValuesCount, d3d12.pSignalSemaphoreValues)) {
    out.push_back({"VUID-VkD3D12FenceSubmitInfoKHR-pSignalSemaphoreValues-parameter",
                   field("pSignalSemaphoreValues") + " is " + Hex(d3d12.pSignalSemaphoreValues) +
                       ", which is not aligned for uint64_t values",
                   false});
  }
  return out;
}

}  // namespace ntbridge
