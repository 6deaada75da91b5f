// Global share (KMT) handles through the broker: value rules, import in another process, lifetime, forged
// and stale values.
#include <sys/stat.h>
#include <unistd.h>

#include "broker_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;
constexpr int kInvalidHandle = VK_ERROR_INVALID_EXTERNAL_HANDLE;

class GlobalShare : public BrokerTest {};

TEST_F(GlobalShare, ValueIsNonzero32BitAndTheSameOnEveryCall) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kKmt);
  HANDLE first = dev->GetHandle(memory, kKmt);
  EXPECT_NE(first, nullptr);
  EXPECT_LE(reinterpret_cast<uintptr_t>(first), 0xFFFFFFFFu);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(dev->GetHandle(memory, kKmt), first);
  VkDeviceMemory other = dev->AllocateExportable(kSize, kKmt);
  EXPECT_NE(dev->GetHandle(other, kKmt), first) << "two payloads share a KMT value";
  dev->Free(other);
  dev->Free(memory);
}

TEST_F(GlobalShare, ImportedByValueInAnotherProcess) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kKmt);
  dev->WriteU32(memory, 0x4B4D5401);
  uint32_t kmt = Kmt(memory);
  ChildProcess child({"import-kmt", std::to_string(kmt), std::to_string(kSize), "0x4B4D5401", "0x600D"});
  ASSERT_EQ(child.Expect("IMPORTED"), "IMPORTED");
  EXPECT_EQ(dev->ReadU32(memory, 4), 0x600Du) << "the child's write is not visible";
  child.CloseInput();
  EXPECT_EQ(child.Wait(), 0);
  dev->Free(memory);
}

TEST_F(GlobalShare, StaysValidWhileAnImporterLivesThenDies) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kKmt);
  dev->WriteU32(memory, 0x11);
  uint32_t kmt = Kmt(memory);
  VkResult r;
  VkDeviceMemory imported = dev->ImportHandle(kSize, kKmt, KmtHandle(kmt), nullptr, &r);
  ASSERT_EQ(r, VK_SUCCESS);
  dev->Free(memory);  // the exporter's memory goes; the importer's keeps the value alive
  {
    ChildProcess child({"import-kmt", std::to_string(kmt), std::to_string(kSize), "0x11", "0x22"});
    ASSERT_EQ(child.Expect("IMPORTED"), "IMPORTED") << "the value died with the exporter's memory";
    child.CloseInput();
    EXPECT_EQ(child.Wait(), 0);
  }
  EXPECT_EQ(dev->ReadU32(imported, 4), 0x22u);
  dev->Free(imported);
  ChildProcess late({"import-kmt", std::to_string(kmt), std::to_string(kSize), "0", "0"});
  EXPECT_EQ(late.Expect("RESULT"), "RESULT " + std::to_string(kInvalidHandle));
  EXPECT_EQ(late.Wait(), 2);
  VkDeviceMemory again = dev->ImportHandle(kSize, kKmt, KmtHandle(kmt), nullptr, &r);
  EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE);
  EXPECT_EQ(again, VK_NULL_HANDLE);
  auto messages = TakeMessages("ntbridge-broker");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("KMT value"), std::string::npos) << messages[0].text;
  EXPECT_NE(messages[0].text.find("freed"), std::string::npos) << messages[0].text;
}

TEST_F(GlobalShare, ForgedValuesAreRefused) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kKmt);
  uint32_t kmt = Kmt(memory);
  for (uint32_t forged : {kmt + 1, kmt ^ 0x80000000u, 0xFFFFFFFFu, 1u}) {
    if (forged == kmt) continue;
    VkResult r;
    dev->ImportHandle(kSize, kKmt, KmtHandle(forged), nullptr, &r);
    EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE) << "forged value " << forged;
  }
  auto messages = TakeMessages("ntbridge-broker");
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_NE(messages.back().text.find("never issued"), std::string::npos) << messages.back().text;
  dev->Free(memory);
}

TEST_F(GlobalShare, ImportChecksSizeAndTypeAgainstTheExporter) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kKmt);
  uint32_t kmt = Kmt(memory);
  VkResult r;
  dev->ImportHandle(kSize / 2, kKmt, KmtHandle(kmt), nullptr, &r);
  EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = TakeMessages("VUID-VkMemoryAllocateInfo-allocationSize-01743");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find(std::to_string(kSize / 2)), std::string::npos) << messages[0].text;
  EXPECT_NE(messages[0].text.find(std::to_string(kSize)), std::string::npos) << messages[0].text;
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].holders.size(), 1u) << "the refused import still holds the payload";
  dev->Free(memory);
}

TEST_F(GlobalShare, MemoryExportedByNameGetsAValueForTheSamePayload) {
  VkDeviceMemory memory = ExportNamed(L"Local\\kmt-and-name", kSize);
  dev->WriteU32(memory, 0x77);
  uint32_t kmt = Kmt(memory);
  EXPECT_NE(kmt, 0u);
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].kmt, kmt);
  EXPECT_EQ(entries[0].name, "Local\\kmt-and-name");
  VkResult r;
  VkDeviceMemory imported = dev->ImportHandle(kSize, kKmt, KmtHandle(kmt), nullptr, &r);
  ASSERT_EQ(r, VK_SUCCESS);
  EXPECT_EQ(dev->ReadU32(imported), 0x77u);
  dev->Free(imported);
  dev->Free(memory);
}

// Memory imported from an NT handle of a shared payload is the same payload: it gets the same KMT value, and
// its hold keeps that value alive after the exporter's memory is gone.
TEST_F(GlobalShare, MemoryImportedFromAnNtHandleSharesThePayloadsValue) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt | kKmt);
  dev->WriteU32(memory, 0x1D);
  uint32_t kmt = Kmt(memory);
  HANDLE nt = dev->GetHandle(memory, kNt);
  struct stat st {};
  if (fstat(static_cast<int>(reinterpret_cast<intptr_t>(nt)), &st) == 0 && S_ISCHR(st.st_mode)) {
    close(static_cast<int>(reinterpret_cast<intptr_t>(nt)));
    dev->Free(memory);
    GTEST_SKIP()
        << "this driver's NT handles do not identify their payload (one device node for all), so the "
           "broker cannot join an NT-handle import to the exporter's KMT value";
  }
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr, kKmt};
  VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, &export_info,
                                          kNt, nt, nullptr};
  VkDeviceMemory imported = VK_NULL_HANDLE;
  ASSERT_EQ(dev->Allocate(kSize, dev->HostVisibleType(), &import, &imported), VK_SUCCESS);
  close(static_cast<int>(reinterpret_cast<intptr_t>(nt)));
  EXPECT_EQ(Kmt(imported), kmt);
  dev->Free(memory);
  VkResult r;
  VkDeviceMemory again = dev->ImportHandle(kSize, kKmt, KmtHandle(kmt), nullptr, &r);
  ASSERT_EQ(r, VK_SUCCESS) << "the NT-handle import's hold did not keep the value alive";
  EXPECT_EQ(dev->ReadU32(again), 0x1Du);
  dev->Free(again);
  dev->Free(imported);
}

TEST_F(GlobalShare, DestroyingTheDeviceReleasesSharesOfUnfreedMemory) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kKmt);
  uint32_t kmt = Kmt(memory);
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  EXPECT_EQ(entries.size(), 1u);
  dev.reset();          // memory is never freed
  vk->monitor.Clear();  // the validation layer rightly reports the leak
  ASSERT_TRUE(Broker().Status(&entries, &status));
  EXPECT_TRUE(entries.empty()) << "the broker still holds KMT value " << kmt;
}

}  // namespace
}  // namespace ntbridge::test
