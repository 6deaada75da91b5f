// The rule functions of src/layer/validation/ without a driver: the rules no single lavapipe device can
// break through the loader (a second physical device, another driver), and the generated rule table.
#include <gtest/gtest.h>

#include <cstring>

#include "validation/rules.hpp"

namespace ntbridge {
namespace {

constexpr uint8_t kDevice[VK_UUID_SIZE] = {1, 2, 3};
constexpr uint8_t kDriver[VK_UUID_SIZE] = {9, 8, 7};

ExportedPayload Exporter() {
  ExportedPayload e;
  e.allocation_size = 4096;
  e.memory_type_index = 2;
  std::memcpy(e.device_uuid, kDevice, VK_UUID_SIZE);
  std::memcpy(e.driver_uuid, kDriver, VK_UUID_SIZE);
  return e;
}

VkMemoryAllocateInfo Info(VkDeviceSize size = 4096, uint32_t type = 2) {
  return {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, nullptr, size, type};
}

std::vector<std::string> Ids(const Violations& v) {
  std::vector<std::string> ids;
  for (const auto& x : v) ids.push_back(x.vuid);
  return ids;
}

TEST(ImportFromExporter, SameDeviceDriverSizeAndTypeIsValid) {
  EXPECT_TRUE(ValidateImportFromExporter(Info(), Exporter(), kDevice, kDriver).empty());
}

TEST(ImportFromExporter, OtherPhysicalDevice) {
  uint8_t other[VK_UUID_SIZE] = {1, 2, 4};
  auto v = ValidateImportFromExporter(Info(), Exporter(), other, kDriver);
  EXPECT_EQ(Ids(v), std::vector<std::string>{"VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659"});
  EXPECT_NE(v[0].message.find("deviceUUID 010203"), std::string::npos) << v[0].message;
  EXPECT_TRUE(v[0].fatal);
}

TEST(ImportFromExporter, OtherDriver) {
  uint8_t other[VK_UUID_SIZE] = {9, 8, 6};
  auto v = ValidateImportFromExporter(Info(), Exporter(), kDevice, other);
  EXPECT_EQ(Ids(v), std::vector<std::string>{"VUID-VkImportMemoryWin32HandleInfoKHR-handle-01518"});
  EXPECT_TRUE(v[0].fatal);
}

TEST(ImportFromExporter, OtherSizeOrType) {
  EXPECT_EQ(Ids(ValidateImportFromExporter(Info(8192), Exporter(), kDevice, kDriver)),
            std::vector<std::string>{"VUID-VkMemoryAllocateInfo-allocationSize-01743"});
  EXPECT_EQ(Ids(ValidateImportFromExporter(Info(4096, 1), Exporter(), kDevice, kDriver)),
            std::vector<std::string>{"VUID-VkMemoryAllocateInfo-allocationSize-01743"});
}

TEST(AllocateMemory, NonFatalRulesAreAllReported) {
  // 00657 and the SECURITY_ATTRIBUTES rule are both safe to carry on from, so both are reported.
  SECURITY_ATTRIBUTES sa{1, nullptr, FALSE};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, &sa};
  VkMemoryAllocateInfo info = Info();
  info.pNext = &win32;
  auto v = ValidateAllocateMemory(info);
  EXPECT_EQ(Ids(v),
            (std::vector<std::string>{"VUID-VkExportMemoryWin32HandleInfoKHR-handleTypes-00657",
                                      "VUID-VkExportMemoryWin32HandleInfoKHR-pAttributes-parameter"}));
  for (const auto& x : v) EXPECT_FALSE(x.fatal);
}

TEST(AllocateMemory, AFatalRuleStopsTheChecks) {
  // Direct3D export types (fatal) and an import of an fd type: only the first is reported.
  VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                          VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &import,
                                         VK_EXTERNAL_MEMORY_HANDLE_TYPE_D3D12_HEAP_BIT};
  VkMemoryAllocateInfo info = Info();
  info.pNext = &export_info;
  EXPECT_EQ(Ids(ValidateAllocateMemory(info)),
            std::vector<std::string>{"VUID-VkExportMemoryAllocateInfo-handleTypes-00656"});
}

TEST(GetMemoryWin32Handle, UnknownMemoryIsReportedBeforeItsHandleType) {
  VkMemoryGetWin32HandleInfoKHR info{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr,
                                     VK_NULL_HANDLE, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT};
  HANDLE h = nullptr;
  EXPECT_EQ(Ids(ValidateGetMemoryWin32Handle(true, &info, &h, nullptr)),
            std::vector<std::string>{"VUID-VkMemoryGetWin32HandleInfoKHR-memory-parameter"});
  MemoryRecord record;
  record.export_types = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  EXPECT_EQ(Ids(ValidateGetMemoryWin32Handle(true, &info, &h, &record)),
            std::vector<std::string>{"VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00664"});
  info.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  EXPECT_TRUE(ValidateGetMemoryWin32Handle(true, &info, &h, &record).empty());
}

TEST(SpecText, ComesFromTheRegistry) {
  const char* text = SpecText("VUID-VkMemoryGetWin32HandleInfoKHR-handleType-00663");
  ASSERT_NE(text, nullptr);
  EXPECT_STREQ(
      text,
      "If handleType is defined as an NT handle, vkGetMemoryWin32HandleKHR must be called no more than "
      "once for each valid unique combination of memory and handleType");
  EXPECT_NE(SpecText("VUID-VkImportMemoryWin32HandleInfoKHR-handle-01441"), nullptr);
  EXPECT_EQ(SpecText("VUID-VkImportMemoryWin32HandleInfoKHR-handle-99999"), nullptr);
}

}  // namespace
}  // namespace ntbridge
