// The Valid Usage functions of VK_KHR_external_semaphore_win32 and VK_KHR_external_fence_win32
// (src/layer/validation/sync_rules.hpp) without a driver: for every rule they check, a call that breaks
// exactly that rule and expects exactly its VUID, and valid calls that expect no violation.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "validation/sync_rules.hpp"

namespace ntbridge {
namespace {

constexpr uint8_t kDevice[VK_UUID_SIZE] = {1, 2, 3};
constexpr uint8_t kDriver[VK_UUID_SIZE] = {9, 8, 7};

constexpr uint32_t kSemWin32 = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr uint32_t kSemKmt = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
constexpr uint32_t kSemD3D12 = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
constexpr uint32_t kFenceWin32 = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr uint32_t kFenceKmt = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

// A device as the layer reports it: OPAQUE_WIN32 and OPAQUE_WIN32_KMT exportable and importable, compatible
// with each other and with OPAQUE_FD, exportable again after an import; D3D12_FENCE not supported.
SyncHandleSupport Supported(uint32_t type) {
  if (type != kSemWin32 && type != kSemKmt) return {};
  return {kSemWin32 | kSemKmt, kSemWin32 | kSemKmt | VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT, 3};
}
const SyncSupportQuery kSupport = Supported;

std::vector<std::string> Ids(const Violations& v) {
  std::vector<std::string> ids;
  for (const auto& x : v) ids.push_back(x.vuid);
  return ids;
}

// Exactly one violation, of `vuid`; its message names the command first.
void ExpectOnly(const Violations& v, const char* vuid, const char* command, bool fatal = true) {
  ASSERT_EQ(Ids(v), std::vector<std::string>{vuid});
  EXPECT_EQ(v[0].message.rfind(std::string(command) + ": ", 0), 0u) << v[0].message;
  EXPECT_EQ(v[0].fatal, fatal) << vuid;
}

SyncExporter Exporter(SyncKind kind) {
  SyncExporter e;
  e.kind = kind;
  std::memcpy(e.device_uuid, kDevice, VK_UUID_SIZE);
  std::memcpy(e.driver_uuid, kDriver, VK_UUID_SIZE);
  return e;
}

SyncRecord Record(SyncKind kind, uint32_t export_types) {
  SyncRecord r;
  r.kind = kind;
  r.export_types = export_types;
  return r;
}

SyncPayloadRef Imported(uint32_t type) {
  SyncPayloadRef p;
  p.import_type = type;
  return p;
}

// ---------------------------------------------------------------------------------------------------------
// vkCreateSemaphore

struct SemaphoreCreate {
  VkExportSemaphoreWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR, nullptr,
                                            nullptr, 0, nullptr};
  VkExportSemaphoreCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr, kSemWin32};
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &export_info, 0};
  SemaphoreCreate() { export_info.pNext = &win32; }
};

TEST(SyncCreateSemaphore, ExportOfWin32TypesIsValid) {
  SemaphoreCreate c;
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  c.win32.pAttributes = &sa;
  c.win32.name = L"Local\\frame-ready";
  c.export_info.handleTypes = kSemWin32 | kSemKmt;
  EXPECT_TRUE(ValidateCreateSemaphore(c.info, kSupport).empty());
  VkSemaphoreCreateInfo plain{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, nullptr, 0};
  EXPECT_TRUE(ValidateCreateSemaphore(plain, kSupport).empty());
  // Only the Win32 bits are the layer's: the driver's own are checked below it.
  c.export_info.handleTypes = kSemWin32 | VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT;
  EXPECT_TRUE(ValidateCreateSemaphore(c.info, kSupport).empty());
}

TEST(SyncCreateSemaphore, UndefinedHandleTypeBits) {
  SemaphoreCreate c;
  c.export_info.handleTypes = kSemWin32 | 0x100;
  ExpectOnly(ValidateCreateSemaphore(c.info, kSupport),
             "VUID-VkExportSemaphoreCreateInfo-handleTypes-parameter", "vkCreateSemaphore");
}

TEST(SyncCreateSemaphore, D3D12FenceIsNotSupported) {
  SemaphoreCreate c;
  c.export_info.handleTypes = kSemD3D12;
  auto v = ValidateCreateSemaphore(c.info, kSupport);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124", "vkCreateSemaphore"));
  EXPECT_NE(v[0].message.find("VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT"), std::string::npos);
}

TEST(SyncCreateSemaphore, Win32TypeTheDeviceDoesNotExport) {
  // A device without external semaphores underneath: nothing exportable, whatever the semaphore type.
  SemaphoreCreate c;
  ExpectOnly(ValidateCreateSemaphore(c.info, [](uint32_t) { return SyncHandleSupport{}; }),
             "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124", "vkCreateSemaphore");
  // An empty query answers "nothing supported" instead of throwing.
  ExpectOnly(ValidateCreateSemaphore(c.info, SyncSupportQuery{}),
             "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124", "vkCreateSemaphore");
}

TEST(SyncCreateSemaphore, IncompatibleHandleTypes) {
  SemaphoreCreate c;
  c.export_info.handleTypes = kSemWin32 | VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
  auto v = ValidateCreateSemaphore(c.info, kSupport);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkExportSemaphoreCreateInfo-handleTypes-01124", "vkCreateSemaphore"));
  EXPECT_NE(v[0].message.find("does not include VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT"),
            std::string::npos)
      << v[0].message;
}

TEST(SyncCreateSemaphore, Win32InfoWithoutAnNtHandleType) {
  SemaphoreCreate c;
  c.export_info.handleTypes = kSemKmt;
  ExpectOnly(ValidateCreateSemaphore(c.info, kSupport),
             "VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125", "vkCreateSemaphore", false);
  // No VkExportSemaphoreCreateInfo at all.
  VkSemaphoreCreateInfo info{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &c.win32, 0};
  ExpectOnly(ValidateCreateSemaphore(info, kSupport),
             "VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125", "vkCreateSemaphore", false);
}

TEST(SyncCreateSemaphore, SecurityAttributesOfTheWrongSize) {
  SemaphoreCreate c;
  SECURITY_ATTRIBUTES sa{1, nullptr, FALSE};
  c.win32.pAttributes = &sa;
  ExpectOnly(ValidateCreateSemaphore(c.info, kSupport),
             "VUID-VkExportSemaphoreWin32HandleInfoKHR-pAttributes-parameter", "vkCreateSemaphore", false);
}

TEST(SyncCreateSemaphore, NonFatalRulesAreAllReported) {
  SemaphoreCreate c;
  SECURITY_ATTRIBUTES sa{1, nullptr, FALSE};
  c.win32.pAttributes = &sa;
  c.export_info.handleTypes = kSemKmt;
  EXPECT_EQ(Ids(ValidateCreateSemaphore(c.info, kSupport)),
            (std::vector<std::string>{"VUID-VkExportSemaphoreWin32HandleInfoKHR-handleTypes-01125",
                                      "VUID-VkExportSemaphoreWin32HandleInfoKHR-pAttributes-parameter"}));
}

// ---------------------------------------------------------------------------------------------------------
// vkGetSemaphoreWin32HandleKHR

struct SemaphoreGet {
  VkSemaphoreGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                        reinterpret_cast<VkSemaphore>(0x50),
                                        VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  HANDLE handle = nullptr;
  SyncRecord record = Record(SyncKind::kSemaphore, kSemWin32 | kSemKmt);
  Violations Run(bool enabled = true) {
    return ValidateGetSemaphoreWin32Handle(enabled, &info, &handle, &record, kSupport);
  }
};
constexpr const char* kGetSemaphore = "vkGetSemaphoreWin32HandleKHR";

TEST(SyncGetSemaphore, ExportedTypesAreValid) {
  SemaphoreGet g;
  EXPECT_TRUE(g.Run().empty());
  g.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  EXPECT_TRUE(g.Run().empty());
  // An imported payload the device can export again.
  g.record.export_types = 0;
  g.record.permanent = Imported(kSemKmt);
  EXPECT_TRUE(g.Run().empty());
  g.record.temporary = Imported(kSemWin32);
  EXPECT_TRUE(g.Run().empty());
}

TEST(SyncGetSemaphore, ExtensionNotEnabled) {
  SemaphoreGet g;
  ExpectOnly(g.Run(false), "VUID-vkGetSemaphoreWin32HandleKHR-device-parameter", kGetSemaphore);
}

TEST(SyncGetSemaphore, NullInfo) {
  SemaphoreGet g;
  ExpectOnly(ValidateGetSemaphoreWin32Handle(true, nullptr, &g.handle, &g.record, kSupport),
             "VUID-vkGetSemaphoreWin32HandleKHR-pGetWin32HandleInfo-parameter", kGetSemaphore);
}

TEST(SyncGetSemaphore, NullHandlePointer) {
  SemaphoreGet g;
  ExpectOnly(ValidateGetSemaphoreWin32Handle(true, &g.info, nullptr, &g.record, kSupport),
             "VUID-vkGetSemaphoreWin32HandleKHR-pHandle-parameter", kGetSemaphore);
}

TEST(SyncGetSemaphore, WrongSType) {
  SemaphoreGet g;
  g.info.sType = VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR;
  auto v = g.Run();
  ASSERT_NO_FATAL_FAILURE(ExpectOnly(v, "VUID-VkSemaphoreGetWin32HandleInfoKHR-sType-sType", kGetSemaphore));
  EXPECT_NE(v[0].message.find(", not VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR"),
            std::string::npos)
      << v[0].message;
}

TEST(SyncGetSemaphore, NonNullPNext) {
  SemaphoreGet g;
  VkBaseInStructure other{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr};
  g.info.pNext = &other;
  ExpectOnly(g.Run(), "VUID-VkSemaphoreGetWin32HandleInfoKHR-pNext-pNext", kGetSemaphore);
}

TEST(SyncGetSemaphore, UnknownSemaphore) {
  SemaphoreGet g;
  auto v = ValidateGetSemaphoreWin32Handle(true, &g.info, &g.handle, nullptr, kSupport);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-parameter", kGetSemaphore));
  EXPECT_NE(v[0].message.find("pGetWin32HandleInfo->semaphore 0x50 is not a live VkSemaphore"),
            std::string::npos)
      << v[0].message;
}

TEST(SyncGetSemaphore, HandleTypeNotOneFlagBit) {
  SemaphoreGet g;
  for (uint32_t type : {0u, kSemWin32 | kSemKmt, 0x100u}) {
    g.info.handleType = VkExternalSemaphoreHandleTypeFlagBits(type);
    ExpectOnly(g.Run(), "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-parameter", kGetSemaphore);
  }
}

TEST(SyncGetSemaphore, HandleTypeNeitherNtNorGlobalShare) {
  SemaphoreGet g;
  g.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
  ExpectOnly(g.Run(), "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01131", kGetSemaphore);
}

TEST(SyncGetSemaphore, HandleTypeNotExported) {
  SemaphoreGet g;
  g.record.export_types = kSemKmt;
  ExpectOnly(g.Run(), "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01126", kGetSemaphore);
  // D3D12_FENCE is an NT handle type, but no semaphore is created exporting it.
  g.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
  ExpectOnly(g.Run(), "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01126", kGetSemaphore);
}

TEST(SyncGetSemaphore, ImportedPayloadNotExportable) {
  SemaphoreGet g;
  g.record.temporary = Imported(kSemKmt);
  auto never = [](uint32_t type) {
    SyncHandleSupport s = Supported(type);
    s.export_from_imported = 0;
    return s;
  };
  auto v = ValidateGetSemaphoreWin32Handle(true, &g.info, &g.handle, &g.record, never);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-01128", kGetSemaphore));
  EXPECT_NE(v[0].message.find("temporarily imported payload"), std::string::npos) << v[0].message;
  // Permanently imported: the same rule.
  g.record.temporary.reset();
  g.record.permanent = Imported(kSemWin32);
  ExpectOnly(ValidateGetSemaphoreWin32Handle(true, &g.info, &g.handle, &g.record, never),
             "VUID-VkSemaphoreGetWin32HandleInfoKHR-semaphore-01128", kGetSemaphore);
}

TEST(SyncGetSemaphore, SecondNtHandle) {
  Violation v = SyncNtHandleFetchedTwice(SyncKind::kSemaphore, 0x50, kSemWin32);
  ExpectOnly({v}, "VUID-VkSemaphoreGetWin32HandleInfoKHR-handleType-01127", kGetSemaphore, false);
  EXPECT_NE(v.message.find("semaphore 0x50"), std::string::npos) << v.message;
}

// ---------------------------------------------------------------------------------------------------------
// vkImportSemaphoreWin32HandleKHR

struct SemaphoreImport {
  VkImportSemaphoreWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR,
                                           nullptr,
                                           reinterpret_cast<VkSemaphore>(0x60),
                                           0,
                                           VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT,
                                           reinterpret_cast<HANDLE>(intptr_t{7}),
                                           nullptr};
  SyncRecord record = Record(SyncKind::kSemaphore, 0);
  Violations Run(bool enabled = true) { return ValidateImportSemaphoreWin32Handle(enabled, &info, &record); }
};
constexpr const char* kImportSemaphore = "vkImportSemaphoreWin32HandleKHR";

TEST(SyncImportSemaphore, HandlesAndNamesAreValid) {
  SemaphoreImport i;
  EXPECT_TRUE(i.Run().empty());
  i.info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
  EXPECT_TRUE(i.Run().empty());
  i.info.handle = nullptr;
  i.info.name = L"Local\\frame-ready";
  EXPECT_TRUE(i.Run().empty());
  i.info.name = nullptr;
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  i.info.handle = reinterpret_cast<HANDLE>(uintptr_t{0xfffffffe});
  EXPECT_TRUE(i.Run().empty());
  // A name of exactly 260 characters is still a name.
  std::wstring longest(260, L'n');
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  i.info.handle = nullptr;
  i.info.name = longest.c_str();
  EXPECT_TRUE(i.Run().empty());
}

TEST(SyncImportSemaphore, ExtensionNotEnabled) {
  SemaphoreImport i;
  ExpectOnly(i.Run(false), "VUID-vkImportSemaphoreWin32HandleKHR-device-parameter", kImportSemaphore);
}

TEST(SyncImportSemaphore, NullInfo) {
  SemaphoreImport i;
  ExpectOnly(ValidateImportSemaphoreWin32Handle(true, nullptr, &i.record),
             "VUID-vkImportSemaphoreWin32HandleKHR-pImportSemaphoreWin32HandleInfo-parameter",
             kImportSemaphore);
}

TEST(SyncImportSemaphore, WrongSType) {
  SemaphoreImport i;
  i.info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_FD_INFO_KHR;
  auto v = i.Run();
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkImportSemaphoreWin32HandleInfoKHR-sType-sType", kImportSemaphore));
  EXPECT_NE(v[0].message.find("pImportSemaphoreWin32HandleInfo->sType is 1000079000, not "
                              "VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR"),
            std::string::npos)
      << v[0].message;
}

TEST(SyncImportSemaphore, NonNullPNext) {
  SemaphoreImport i;
  VkBaseInStructure other{VK_STRUCTURE_TYPE_EXPORT_SEMAPHORE_CREATE_INFO, nullptr};
  i.info.pNext = &other;
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-pNext-pNext", kImportSemaphore);
}

TEST(SyncImportSemaphore, UnknownSemaphore) {
  SemaphoreImport i;
  ExpectOnly(ValidateImportSemaphoreWin32Handle(true, &i.info, nullptr),
             "VUID-VkImportSemaphoreWin32HandleInfoKHR-semaphore-parameter", kImportSemaphore);
}

TEST(SyncImportSemaphore, UndefinedFlags) {
  SemaphoreImport i;
  i.info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT | 0x4;
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-parameter", kImportSemaphore);
}

TEST(SyncImportSemaphore, HandleAndName) {
  SemaphoreImport i;
  i.info.name = L"Local\\frame-ready";
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handle-01469", kImportSemaphore);
}

TEST(SyncImportSemaphore, HandleTypeNotInTheTable) {
  SemaphoreImport i;
  for (uint32_t type :
       {0u, uint32_t(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_FD_BIT),
        uint32_t(VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT), kSemWin32 | kSemKmt, 0x100u}) {
    i.info.handleType = VkExternalSemaphoreHandleTypeFlagBits(type);
    ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01140", kImportSemaphore);
  }
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT;
  auto v = i.Run();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(
      v[0].message.find("pImportSemaphoreWin32HandleInfo->handleType is "
                        "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_SYNC_FD_BIT, which is not in the Handle Types "
                        "Supported by VkImportSemaphoreWin32HandleInfoKHR table"),
      std::string::npos)
      << v[0].message;
}

TEST(SyncImportSemaphore, NameWithAGlobalShareType) {
  SemaphoreImport i;
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  i.info.handle = nullptr;
  i.info.name = L"Local\\frame-ready";
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01466", kImportSemaphore);
}

TEST(SyncImportSemaphore, NameThatNamesNothing) {
  SemaphoreImport i;
  i.info.handle = nullptr;
  i.info.name = L"";
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467", kImportSemaphore);
  std::wstring too_long(261, L'n');
  i.info.name = too_long.c_str();
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467", kImportSemaphore);
  // No Direct3D 12 fence exists on Linux, so no name names one.
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
  i.info.name = L"Local\\d3d12-fence";
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01467", kImportSemaphore);
}

TEST(SyncImportSemaphore, HandleThatCannotBeOfItsType) {
  SemaphoreImport i;
  for (HANDLE h : {static_cast<HANDLE>(nullptr), INVALID_HANDLE_VALUE,
                   reinterpret_cast<HANDLE>(intptr_t{0x100000000})}) {
    i.info.handle = h;
    ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468", kImportSemaphore);
  }
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  for (HANDLE h : {static_cast<HANDLE>(nullptr), INVALID_HANDLE_VALUE,
                   reinterpret_cast<HANDLE>(uintptr_t{0x100000000})}) {
    i.info.handle = h;
    ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468", kImportSemaphore);
  }
  // No Direct3D 12 fence exists on Linux, so no handle is one.
  i.info.handleType = VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT;
  i.info.handle = reinterpret_cast<HANDLE>(intptr_t{7});
  ExpectOnly(i.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-01468", kImportSemaphore);
}

// ---------------------------------------------------------------------------------------------------------
// vkImportSemaphoreWin32HandleKHR against a known exporter

struct SemaphoreFromExporter {
  SemaphoreImport import;
  SyncExporter exporter = Exporter(SyncKind::kSemaphore);
  Violations Run(const uint8_t (&device)[VK_UUID_SIZE] = kDevice,
                 const uint8_t (&driver)[VK_UUID_SIZE] = kDriver) {
    return ValidateImportSemaphoreFromExporter(import.info, import.record, exporter, device, driver);
  }
};

TEST(SyncImportSemaphoreFromExporter, SameDeviceDriverAndTypeIsValid) {
  SemaphoreFromExporter e;
  EXPECT_TRUE(e.Run().empty());
  e.exporter.semaphore_type = e.import.record.semaphore_type = VK_SEMAPHORE_TYPE_TIMELINE;
  EXPECT_TRUE(e.Run().empty());
  // Binary payloads may be imported temporarily.
  e.exporter.semaphore_type = e.import.record.semaphore_type = VK_SEMAPHORE_TYPE_BINARY;
  e.import.info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
  EXPECT_TRUE(e.Run().empty());
  // A fence's payload is the caller's to refuse (an invalid handle, not a rule).
  e.exporter.kind = SyncKind::kFence;
  uint8_t other[VK_UUID_SIZE] = {4};
  EXPECT_TRUE(e.Run(other).empty());
}

TEST(SyncImportSemaphoreFromExporter, HandleFromAnotherDeviceOrDriver) {
  SemaphoreFromExporter e;
  uint8_t other[VK_UUID_SIZE] = {1, 2, 4};
  auto v = e.Run(other);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handle-01542", kImportSemaphore));
  EXPECT_NE(v[0].message.find("deviceUUID 010203"), std::string::npos) << v[0].message;
  ExpectOnly(e.Run(kDevice, other), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handle-01542",
             kImportSemaphore);
}

TEST(SyncImportSemaphoreFromExporter, NameFromAnotherDeviceOrDriver) {
  SemaphoreFromExporter e;
  e.import.info.handle = nullptr;
  e.import.info.name = L"Local\\frame-ready";
  uint8_t other[VK_UUID_SIZE] = {1, 2, 4};
  ExpectOnly(e.Run(other), "VUID-VkImportSemaphoreWin32HandleInfoKHR-name-01543", kImportSemaphore);
  ExpectOnly(e.Run(kDevice, other), "VUID-VkImportSemaphoreWin32HandleInfoKHR-name-01543", kImportSemaphore);
}

TEST(SyncImportSemaphoreFromExporter, OtherCreateFlags) {
  SemaphoreFromExporter e;
  e.exporter.create_flags = 1;
  ExpectOnly(e.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03261", kImportSemaphore);
}

TEST(SyncImportSemaphoreFromExporter, OtherSemaphoreType) {
  SemaphoreFromExporter e;
  e.exporter.semaphore_type = VK_SEMAPHORE_TYPE_TIMELINE;
  auto v = e.Run();
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkImportSemaphoreWin32HandleInfoKHR-handleType-03262", kImportSemaphore));
  EXPECT_NE(v[0].message.find("VK_SEMAPHORE_TYPE_TIMELINE"), std::string::npos) << v[0].message;
}

TEST(SyncImportSemaphoreFromExporter, TemporaryImportOfATimeline) {
  SemaphoreFromExporter e;
  e.exporter.semaphore_type = e.import.record.semaphore_type = VK_SEMAPHORE_TYPE_TIMELINE;
  e.import.info.flags = VK_SEMAPHORE_IMPORT_TEMPORARY_BIT;
  ExpectOnly(e.Run(), "VUID-VkImportSemaphoreWin32HandleInfoKHR-flags-03322", kImportSemaphore);
}

// ---------------------------------------------------------------------------------------------------------
// VkD3D12FenceSubmitInfoKHR

struct D3D12Submit {
  uint64_t values[3] = {1, 2, 3};
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  VkD3D12FenceSubmitInfoKHR d3d12{
      VK_STRUCTURE_TYPE_D3D12_FENCE_SUBMIT_INFO_KHR, nullptr, 1, values, 2, values + 1};
  D3D12Submit() {
    submit.waitSemaphoreCount = 1;
    submit.signalSemaphoreCount = 2;
  }
  const uint64_t* Misaligned() const {
    return reinterpret_cast<const uint64_t*>(reinterpret_cast<const char*>(values) + 1);
  }
};

TEST(SyncD3D12FenceSubmitInfo, MatchingCountsAreValid) {
  D3D12Submit s;
  EXPECT_TRUE(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12).empty());
  // NULL arrays are allowed, and so is any pointer with a count of 0.
  s.d3d12.pWaitSemaphoreValues = nullptr;
  s.d3d12.pSignalSemaphoreValues = nullptr;
  EXPECT_TRUE(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12).empty());
  s.submit.waitSemaphoreCount = s.d3d12.waitSemaphoreValuesCount = 0;
  s.d3d12.pWaitSemaphoreValues = s.Misaligned();
  EXPECT_TRUE(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12).empty());
}

TEST(SyncD3D12FenceSubmitInfo, WaitCountDiffers) {
  D3D12Submit s;
  s.submit.waitSemaphoreCount = 2;
  auto v = ValidateD3D12FenceSubmitInfo(s.submit, 3, s.d3d12);
  ASSERT_NO_FATAL_FAILURE(
      ExpectOnly(v, "VUID-VkD3D12FenceSubmitInfoKHR-waitSemaphoreValuesCount-00079", "vkQueueSubmit", false));
  EXPECT_NE(v[0].message.find("pSubmits[3].pNext<VkD3D12FenceSubmitInfoKHR>.waitSemaphoreValuesCount is 1"),
            std::string::npos)
      << v[0].message;
}

TEST(SyncD3D12FenceSubmitInfo, SignalCountDiffers) {
  D3D12Submit s;
  s.d3d12.signalSemaphoreValuesCount = 1;
  ExpectOnly(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12),
             "VUID-VkD3D12FenceSubmitInfoKHR-signalSemaphoreValuesCount-00080", "vkQueueSubmit", false);
}

TEST(SyncD3D12FenceSubmitInfo, MisalignedWaitValues) {
  D3D12Submit s;
  s.d3d12.pWaitSemaphoreValues = s.Misaligned();
  ExpectOnly(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12),
             "VUID-VkD3D12FenceSubmitInfoKHR-pWaitSemaphoreValues-parameter", "vkQueueSubmit", false);
}

TEST(SyncD3D12FenceSubmitInfo, MisalignedSignalValues) {
  D3D12Submit s;
  s.d3d12.pSignalSemaphoreValues = s.Misaligned();
  ExpectOnly(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12),
             "VUID-VkD3D12FenceSubmitInfoKHR-pSignalSemaphoreValues-parameter", "vkQueueSubmit", false);
}

TEST(SyncD3D12FenceSubmitInfo, EveryBrokenRuleIsReported) {
  // None is fatal (the layer drops the structure unread), so all are reported.
  D3D12Submit s;
  s.submit.waitSemaphoreCount = 0;
  s.submit.signalSemaphoreCount = 0;
  s.d3d12.pWaitSemaphoreValues = s.Misaligned();
  EXPECT_EQ(Ids(ValidateD3D12FenceSubmitInfo(s.submit, 0, s.d3d12)),
            (std::vector<std::string>{"VUID-VkD3D12FenceSubmitInfoKHR-waitSemaphoreValuesCount-00079",
                                      "VUID-VkD3D12FenceSubmitInfoKHR-signalSemaphoreValuesCount-00080",
                                      "VUID-VkD3D12FenceSubmitInfoKHR-pWaitSemaphoreValues-parameter"}));
}

// ---------------------------------------------------------------------------------------------------------
// vkCreateFence

struct FenceCreate {
  VkExportFenceWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_FENCE_WIN32_HANDLE_INFO_KHR, nullptr,
                                        nullptr, 0, nullptr};
  VkExportFenceCreateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr, kFenceWin32};
  VkFenceCreateInfo info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, &export_info, 0};
  FenceCreate() { export_info.pNext = &win32; }
};

TEST(SyncCreateFence, ExportOfWin32TypesIsValid) {
  FenceCreate c;
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, FALSE};
  c.win32.pAttributes = &sa;
  c.export_info.handleTypes = kFenceWin32 | kFenceKmt;
  EXPECT_TRUE(ValidateCreateFence(c.info, kSupport).empty());
  VkFenceCreateInfo plain{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, nullptr, VK_FENCE_CREATE_SIGNALED_BIT};
  EXPECT_TRUE(ValidateCreateFence(plain, kSupport).empty());
}

TEST(SyncCreateFence, UndefinedHandleTypeBits) {
  FenceCreate c;
  // 0x10 is a semaphore bit (SYNC_FD) but no fence bit.
  c.export_info.handleTypes = kFenceWin32 | 0x10;
  ExpectOnly(ValidateCreateFence(c.info, kSupport), "VUID-VkExportFenceCreateInfo-handleTypes-parameter",
             "vkCreateFence");
}

TEST(SyncCreateFence, UnsupportedOrIncompatible) {
  FenceCreate c;
  ExpectOnly(ValidateCreateFence(c.info, [](uint32_t) { return SyncHandleSupport{}; }),
             "VUID-VkExportFenceCreateInfo-handleTypes-01446", "vkCreateFence");
  c.export_info.handleTypes = kFenceWin32 | VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;
  auto v = ValidateCreateFence(c.info, kSupport);
  ASSERT_NO_FATAL_FAILURE(ExpectOnly(v, "VUID-VkExportFenceCreateInfo-handleTypes-01446", "vkCreateFence"));
  // Named as a fence bit, not as the semaphore bit of the same value (D3D12_FENCE).
  EXPECT_NE(v[0].message.find("VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT"), std::string::npos)
      << v[0].message;
}

TEST(SyncCreateFence, Win32InfoWithoutAnNtHandleType) {
  FenceCreate c;
  c.export_info.handleTypes = kFenceKmt;
  ExpectOnly(ValidateCreateFence(c.info, kSupport), "VUID-VkExportFenceWin32HandleInfoKHR-handleTypes-01447",
             "vkCreateFence", false);
}

TEST(SyncCreateFence, SecurityAttributesOfTheWrongSize) {
  FenceCreate c;
  SECURITY_ATTRIBUTES sa{0, nullptr, FALSE};
  c.win32.pAttributes = &sa;
  ExpectOnly(ValidateCreateFence(c.info, kSupport),
             "VUID-VkExportFenceWin32HandleInfoKHR-pAttributes-parameter", "vkCreateFence", false);
}

// ---------------------------------------------------------------------------------------------------------
// vkGetFenceWin32HandleKHR

struct FenceGet {
  VkFenceGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_FENCE_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                    reinterpret_cast<VkFence>(0x70),
                                    VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  HANDLE handle = nullptr;
  SyncRecord record = Record(SyncKind::kFence, kFenceWin32 | kFenceKmt);
  Violations Run(bool enabled = true) {
    return ValidateGetFenceWin32Handle(enabled, &info, &handle, &record, kSupport);
  }
};
constexpr const char* kGetFence = "vkGetFenceWin32HandleKHR";

TEST(SyncGetFence, ExportedTypesAreValid) {
  FenceGet g;
  EXPECT_TRUE(g.Run().empty());
  g.info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  EXPECT_TRUE(g.Run().empty());
  g.record.temporary = Imported(kFenceWin32);
  EXPECT_TRUE(g.Run().empty());
}

TEST(SyncGetFence, ExtensionNotEnabled) {
  FenceGet g;
  ExpectOnly(g.Run(false), "VUID-vkGetFenceWin32HandleKHR-device-parameter", kGetFence);
}

TEST(SyncGetFence, NullPointers) {
  FenceGet g;
  ExpectOnly(ValidateGetFenceWin32Handle(true, nullptr, &g.handle, &g.record, kSupport),
             "VUID-vkGetFenceWin32HandleKHR-pGetWin32HandleInfo-parameter", kGetFence);
  ExpectOnly(ValidateGetFenceWin32Handle(true, &g.info, nullptr, &g.record, kSupport),
             "VUID-vkGetFenceWin32HandleKHR-pHandle-parameter", kGetFence);
}

TEST(SyncGetFence, WrongSType) {
  FenceGet g;
  g.info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_GET_WIN32_HANDLE_INFO_KHR;
  ExpectOnly(g.Run(), "VUID-VkFenceGetWin32HandleInfoKHR-sType-sType", kGetFence);
}

TEST(SyncGetFence, NonNullPNext) {
  FenceGet g;
  VkBaseInStructure other{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr};
  g.info.pNext = &other;
  ExpectOnly(g.Run(), "VUID-VkFenceGetWin32HandleInfoKHR-pNext-pNext", kGetFence);
}

TEST(SyncGetFence, UnknownFence) {
  FenceGet g;
  ExpectOnly(ValidateGetFenceWin32Handle(true, &g.info, &g.handle, nullptr, kSupport),
             "VUID-VkFenceGetWin32HandleInfoKHR-fence-parameter", kGetFence);
}

TEST(SyncGetFence, HandleTypeNotOneFlagBit) {
  FenceGet g;
  for (uint32_t type : {0u, kFenceWin32 | kFenceKmt, 0x10u}) {
    g.info.handleType = VkExternalFenceHandleTypeFlagBits(type);
    ExpectOnly(g.Run(), "VUID-VkFenceGetWin32HandleInfoKHR-handleType-parameter", kGetFence);
  }
}

TEST(SyncGetFence, HandleTypeNeitherNtNorGlobalShare) {
  FenceGet g;
  g.info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT;
  ExpectOnly(g.Run(), "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01452", kGetFence);
}

TEST(SyncGetFence, HandleTypeNotExported) {
  FenceGet g;
  g.record.export_types = 0;
  ExpectOnly(g.Run(), "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01448", kGetFence);
}

TEST(SyncGetFence, ImportedPayloadNotExportable) {
  FenceGet g;
  g.record.permanent = Imported(kFenceKmt);
  ExpectOnly(ValidateGetFenceWin32Handle(true, &g.info, &g.handle, &g.record,
                                         [](uint32_t) {
                                           return SyncHandleSupport{0, kFenceWin32, 3};
                                         }),
             "VUID-VkFenceGetWin32HandleInfoKHR-fence-01450", kGetFence);
}

TEST(SyncGetFence, SecondNtHandle) {
  Violation v = SyncNtHandleFetchedTwice(SyncKind::kFence, 0x70, kFenceWin32);
  ExpectOnly({v}, "VUID-VkFenceGetWin32HandleInfoKHR-handleType-01449", kGetFence, false);
  EXPECT_NE(v.message.find("VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT"), std::string::npos) << v.message;
}

// ---------------------------------------------------------------------------------------------------------
// vkImportFenceWin32HandleKHR

struct FenceImport {
  VkImportFenceWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_IMPORT_FENCE_WIN32_HANDLE_INFO_KHR,
                                       nullptr,
                                       reinterpret_cast<VkFence>(0x80),
                                       0,
                                       VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_BIT,
                                       reinterpret_cast<HANDLE>(intptr_t{9}),
                                       nullptr};
  SyncRecord record = Record(SyncKind::kFence, 0);
  Violations Run(bool enabled = true) { return ValidateImportFenceWin32Handle(enabled, &info, &record); }
};
constexpr const char* kImportFence = "vkImportFenceWin32HandleKHR";

TEST(SyncImportFence, HandlesAndNamesAreValid) {
  FenceImport i;
  EXPECT_TRUE(i.Run().empty());
  i.info.flags = VK_FENCE_IMPORT_TEMPORARY_BIT;
  i.info.handle = nullptr;
  i.info.name = L"Global\\fence";
  EXPECT_TRUE(i.Run().empty());
  i.info.name = nullptr;
  i.info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  i.info.handle = reinterpret_cast<HANDLE>(uintptr_t{0x40000002});
  EXPECT_TRUE(i.Run().empty());
}

TEST(SyncImportFence, ExtensionNotEnabled) {
  FenceImport i;
  ExpectOnly(i.Run(false), "VUID-vkImportFenceWin32HandleKHR-device-parameter", kImportFence);
}

TEST(SyncImportFence, NullInfo) {
  FenceImport i;
  ExpectOnly(ValidateImportFenceWin32Handle(true, nullptr, &i.record),
             "VUID-vkImportFenceWin32HandleKHR-pImportFenceWin32HandleInfo-parameter", kImportFence);
}

TEST(SyncImportFence, WrongSType) {
  FenceImport i;
  i.info.sType = VK_STRUCTURE_TYPE_IMPORT_SEMAPHORE_WIN32_HANDLE_INFO_KHR;
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-sType-sType", kImportFence);
}

TEST(SyncImportFence, NonNullPNext) {
  FenceImport i;
  VkBaseInStructure other{VK_STRUCTURE_TYPE_EXPORT_FENCE_CREATE_INFO, nullptr};
  i.info.pNext = &other;
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-pNext-pNext", kImportFence);
}

TEST(SyncImportFence, UnknownFence) {
  FenceImport i;
  ExpectOnly(ValidateImportFenceWin32Handle(true, &i.info, nullptr),
             "VUID-VkImportFenceWin32HandleInfoKHR-fence-parameter", kImportFence);
}

TEST(SyncImportFence, UndefinedFlags) {
  FenceImport i;
  i.info.flags = 2;
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-flags-parameter", kImportFence);
}

TEST(SyncImportFence, HandleAndName) {
  FenceImport i;
  i.info.name = L"Global\\fence";
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-handle-01462", kImportFence);
}

TEST(SyncImportFence, HandleTypeNotInTheTable) {
  FenceImport i;
  for (uint32_t type : {0u, uint32_t(VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_FD_BIT),
                        uint32_t(VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT), kFenceWin32 | kFenceKmt}) {
    i.info.handleType = VkExternalFenceHandleTypeFlagBits(type);
    ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01457", kImportFence);
  }
}

TEST(SyncImportFence, NameWithAGlobalShareType) {
  FenceImport i;
  i.info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  i.info.handle = nullptr;
  i.info.name = L"Global\\fence";
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01459", kImportFence);
}

TEST(SyncImportFence, NameThatNamesNothing) {
  FenceImport i;
  i.info.handle = nullptr;
  i.info.name = L"";
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01460", kImportFence);
}

TEST(SyncImportFence, HandleThatCannotBeOfItsType) {
  FenceImport i;
  i.info.handle = INVALID_HANDLE_VALUE;
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461", kImportFence);
  i.info.handleType = VK_EXTERNAL_FENCE_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;
  i.info.handle = nullptr;
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-handleType-01461", kImportFence);
}

TEST(SyncImportFence, PendingFence) {
  FenceImport i;
  i.record.fence_pending = true;
  ExpectOnly(i.Run(), "VUID-vkImportFenceWin32HandleKHR-fence-04448", kImportFence);
  // A broken parameter is reported first, whatever the fence's state.
  i.info.flags = 2;
  ExpectOnly(i.Run(), "VUID-VkImportFenceWin32HandleInfoKHR-flags-parameter", kImportFence);
}

TEST(SyncImportFenceFromExporter, SameDeviceAndDriverIsValid) {
  FenceImport i;
  EXPECT_TRUE(ValidateImportFenceFromExporter(i.info, i.record, Exporter(SyncKind::kFence), kDevice, kDriver)
                  .empty());
}

TEST(SyncImportFenceFromExporter, HandleFromAnotherDeviceOrDriver) {
  FenceImport i;
  uint8_t other[VK_UUID_SIZE] = {7};
  ExpectOnly(ValidateImportFenceFromExporter(i.info, i.record, Exporter(SyncKind::kFence), other, kDriver),
             "VUID-VkImportFenceWin32HandleInfoKHR-handle-01539", kImportFence);
  ExpectOnly(ValidateImportFenceFromExporter(i.info, i.record, Exporter(SyncKind::kFence), kDevice, other),
             "VUID-VkImportFenceWin32HandleInfoKHR-handle-01539", kImportFence);
}

TEST(SyncImportFenceFromExporter, NameFromAnotherDevice) {
  FenceImport i;
  i.info.handle = nullptr;
  i.info.name = L"Global\\fence";
  uint8_t other[VK_UUID_SIZE] = {7};
  ExpectOnly(ValidateImportFenceFromExporter(i.info, i.record, Exporter(SyncKind::kFence), other, kDriver),
             "VUID-VkImportFenceWin32HandleInfoKHR-name-01540", kImportFence);
}

// ---------------------------------------------------------------------------------------------------------

TEST(SyncHandleTypeNames, EachKindNamesItsOwnBits) {
  EXPECT_STREQ(SemaphoreHandleTypeName(8), "VK_EXTERNAL_SEMAPHORE_HANDLE_TYPE_D3D12_FENCE_BIT");
  EXPECT_STREQ(FenceHandleTypeName(8), "VK_EXTERNAL_FENCE_HANDLE_TYPE_SYNC_FD_BIT");
  EXPECT_STREQ(SemaphoreHandleTypeName(0), "0");
  EXPECT_STREQ(FenceHandleTypeName(6), "0x6");
}

TEST(SyncSpecText, TheGeneratedTableHoldsTheSyncRules) {
  const char* text = SpecText("VUID-VkFenceGetWin32HandleInfoKHR-handleType-01449");
  ASSERT_NE(text, nullptr);
  EXPECT_STREQ(
      text,
      "If handleType is defined as an NT handle, vkGetFenceWin32HandleKHR must be called no more than "
      "once for each valid unique combination of fence and handleType");
  EXPECT_NE(SpecText("VUID-VkD3D12FenceSubmitInfoKHR-waitSemaphoreValuesCount-00079"), nullptr);
  EXPECT_NE(SpecText("VUID-VkExportSemaphoreCreateInfo-handleTypes-01124"), nullptr);
  EXPECT_NE(SpecText("VUID-vkImportFenceWin32HandleKHR-fence-04448"), nullptr);
}

}  // namespace
}  // namespace ntbridge
