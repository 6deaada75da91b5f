// Named handles through the broker: export by name, import by name in another process, uniqueness while
// live, release, the name rules, and the checks against the exporter.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "broker_client.hpp"
#include "broker_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;

class Names : public BrokerTest {
 protected:
  VkResult ImportByName(const wchar_t* name, VkDeviceMemory* memory, VkDeviceSize size = kSize) {
    VkResult r;
    *memory = dev->ImportHandle(size, kNt, nullptr, name, &r);
    return r;
  }
};

TEST_F(Names, ImportedByNameInAnotherProcess) {
  VkDeviceMemory memory = ExportNamed(L"Local\\ntbridge-frame", kSize);
  dev->WriteU32(memory, 0x4E414D45);
  ChildProcess child({"import-name", "Local\\ntbridge-frame", std::to_string(kSize), "0x4E414D45", "0xACE"});
  ASSERT_EQ(child.Expect("IMPORTED"), "IMPORTED");
  EXPECT_EQ(dev->ReadU32(memory, 4), 0xACEu);
  child.CloseInput();
  EXPECT_EQ(child.Wait(), 0);
  dev->Free(memory);
}

TEST_F(Names, ExportedInAnotherProcessImportedHere) {
  ChildProcess child({"export", "Global\\from-child", std::to_string(kSize), "0x0C4117D"});
  ASSERT_EQ(child.Expect("READY"), "READY");
  VkDeviceMemory memory;
  ASSERT_EQ(ImportByName(L"Global\\from-child", &memory), VK_SUCCESS);
  EXPECT_EQ(dev->ReadU32(memory), 0x0C4117Du);
  dev->WriteU32(memory, 0x5EE, 4);
  child.CloseInput();
  EXPECT_EQ(child.Expect("SEEN"), "SEEN " + std::to_string(0x5EE));
  EXPECT_EQ(child.Wait(), 0);
  dev->Free(memory);
}

TEST_F(Names, ASecondLiveExportUnderTheSameNameIsRefused) {
  VkDeviceMemory first = ExportNamed(L"Local\\taken", kSize);
  VkResult r;
  VkDeviceMemory second = ExportNamed(L"Local\\taken", kSize, &r);
  EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE);
  EXPECT_EQ(second, VK_NULL_HANDLE);
  auto messages = TakeMessages("ntbridge-broker");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("\"Local\\taken\" is already in use"), std::string::npos)
      << messages[0].text;
  // Another process is refused too.
  ChildProcess child({"export", "Local\\taken", std::to_string(kSize), "1"});
  EXPECT_EQ(child.Expect("RESULT"), "RESULT " + std::to_string(VK_ERROR_INVALID_EXTERNAL_HANDLE));
  EXPECT_EQ(child.Wait(), 2);
  dev->Free(first);
}

TEST_F(Names, TheNameIsReleasedWhenNoMemoryOfThePayloadRemains) {
  VkDeviceMemory memory = ExportNamed(L"Local\\reused", kSize);
  VkDeviceMemory imported;
  ASSERT_EQ(ImportByName(L"Local\\reused", &imported), VK_SUCCESS);
  dev->Free(memory);
  VkResult r;
  ExportNamed(L"Local\\reused", kSize, &r);
  EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE) << "the importer still holds the payload";
  TakeMessages("ntbridge-broker");
  dev->Free(imported);
  VkDeviceMemory again;
  EXPECT_EQ(ImportByName(L"Local\\reused", &again), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto messages = TakeMessages("ntbridge-broker");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("no live memory object"), std::string::npos) << messages[0].text;
  VkDeviceMemory fresh = ExportNamed(L"Local\\reused", kSize);
  EXPECT_NE(fresh, VK_NULL_HANDLE);
  dev->Free(fresh);
}

TEST_F(Names, NamesAreCaseSensitiveAndNamespacesDistinct) {
  VkDeviceMemory a = ExportNamed(L"Local\\Case", kSize);
  VkDeviceMemory b = ExportNamed(L"Local\\case", kSize);
  VkDeviceMemory c = ExportNamed(L"Global\\Case", kSize);
  VkDeviceMemory d = ExportNamed(L"Case", kSize);
  dev->WriteU32(a, 1);
  dev->WriteU32(b, 2);
  dev->WriteU32(c, 3);
  dev->WriteU32(d, 4);
  const wchar_t* names[] = {L"Local\\Case", L"Local\\case", L"Global\\Case", L"Case"};
  for (uint32_t i = 0; i < 4; ++i) {
    VkDeviceMemory m;
    ASSERT_EQ(ImportByName(names[i], &m), VK_SUCCESS);
    EXPECT_EQ(dev->ReadU32(m), i + 1);
    dev->Free(m);
  }
  VkDeviceMemory none;
  EXPECT_EQ(ImportByName(L"LOCAL\\case", &none), VK_ERROR_INVALID_EXTERNAL_HANDLE);
  TakeMessages("ntbridge-broker");
  for (VkDeviceMemory m : {a, b, c, d}) dev->Free(m);
}

TEST_F(Names, LengthAndFormAreChecked) {
  std::wstring longest = L"Local\\" + std::wstring(254, L'n');
  VkDeviceMemory ok = ExportNamed(longest, kSize);
  EXPECT_NE(ok, VK_NULL_HANDLE) << "a name of 260 characters is allowed";
  dev->Free(ok);
  for (std::wstring bad : {L"Local\\" + std::wstring(255, L'n'), std::wstring(L"Local\\"),
                           std::wstring(L"Session\\1\\x"), std::wstring(L"a\\b")}) {
    VkResult r;
    ExportNamed(bad, kSize, &r);
    EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE) << bad.size();
    auto messages = TakeMessages("ntbridge-broker");
    ASSERT_EQ(messages.size(), 1u);
    EXPECT_NE(messages[0].text.find("is not a valid name"), std::string::npos) << messages[0].text;
  }
}

TEST_F(Names, ImportChecksSizeAndMemoryTypeAgainstTheExporter) {
  VkDeviceMemory memory = ExportNamed(L"Local\\sized", kSize);
  VkDeviceMemory m;
  EXPECT_EQ(ImportByName(L"Local\\sized", &m, kSize * 2), VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = TakeMessages("VUID-VkMemoryAllocateInfo-allocationSize-01743");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("allocationSize is " + std::to_string(kSize * 2)), std::string::npos);
  EXPECT_NE(messages[0].text.find("allocationSize " + std::to_string(kSize)), std::string::npos);
  dev->Free(memory);
}

TEST_F(Names, KmtHandleTypeWithANameIsAViolation) {
  VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                          kKmt, nullptr, L"Local\\x"};
  VkDeviceMemory m;
  EXPECT_EQ(dev->Allocate(kSize, dev->HostVisibleType(), &import, &m), VK_ERROR_VALIDATION_FAILED_EXT);
  EXPECT_EQ(TakeMessages("VUID-VkImportMemoryWin32HandleInfoKHR-handleType-01439").size(), 1u);
  vk->monitor.Clear();  // the validation layer below may say the same
}

// Publishes a memfd straight to the broker under `name`, as an exporter with `info` would. The payload lives
// as long as the returned connection.
std::unique_ptr<BrokerClient> PublishRaw(const std::string& name, const protocol::PayloadInfo& info) {
  int fd = memfd_create("raw-export", MFD_CLOEXEC);
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(info.allocation_size)), 0);
  auto client = std::make_unique<BrokerClient>();
  client->SetOptions({Broker().socket, "", false});
  protocol::PublishRequest request{protocol::kPublishName, info, name};
  protocol::PublishReply reply;
  std::string error;
  EXPECT_TRUE(client->Publish(request, fd, &reply, &error)) << error;
  close(fd);
  EXPECT_EQ(reply.status, protocol::Status::kOk);
  return client;
}

// lavapipe has a single memory type, so another exporter's memoryTypeIndex is published straight.
TEST_F(Names, ImportChecksTheMemoryTypeAgainstTheExporter) {
  VkDeviceMemory seed = ExportNamed(L"Local\\seed", kSize);  // starts the broker; gives this device's UUIDs
  uint32_t kmt = Kmt(seed);
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_EQ(entries[0].kmt, kmt);
  protocol::PayloadInfo info = entries[0].info;
  info.memory_type_index = dev->HostVisibleType() + 5;
  auto exporter = PublishRaw("Local\\other-type", info);
  VkDeviceMemory m;
  EXPECT_EQ(ImportByName(L"Local\\other-type", &m), VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = TakeMessages("VUID-VkMemoryAllocateInfo-allocationSize-01743");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("memoryTypeIndex is " + std::to_string(dev->HostVisibleType())),
            std::string::npos)
      << messages[0].text;
  EXPECT_NE(messages[0].text.find("memoryTypeIndex " + std::to_string(info.memory_type_index)),
            std::string::npos)
      << messages[0].text;
  dev->Free(seed);
}

// The UUID check needs an exporter on another physical device; lavapipe has one. A payload published
// straight to the broker with another device's UUIDs stands in for it (on a two-GPU machine the same test
// can use the real second GPU).
TEST_F(Names, ImportFromAnotherPhysicalDeviceIsRefused) {
  VkDeviceMemory seed = ExportNamed(L"Local\\seed", kSize);  // starts the broker
  int fd = memfd_create("other-gpu", MFD_CLOEXEC);
  ASSERT_EQ(ftruncate(fd, kSize), 0);
  BrokerClient client;
  client.SetOptions({Broker().socket, "", false});
  protocol::PublishRequest request{protocol::kPublishName, {}, "Local\\other-gpu"};
  request.info.allocation_size = kSize;
  request.info.memory_type_index = dev->HostVisibleType();
  std::memset(request.info.device_uuid, 0xAB, sizeof request.info.device_uuid);
  std::memset(request.info.driver_uuid, 0xCD, sizeof request.info.driver_uuid);
  protocol::PublishReply reply;
  std::string error;
  ASSERT_TRUE(client.Publish(request, fd, &reply, &error)) << error;
  close(fd);
  ASSERT_EQ(reply.status, protocol::Status::kOk);
  VkDeviceMemory m;
  EXPECT_EQ(ImportByName(L"Local\\other-gpu", &m), VK_ERROR_VALIDATION_FAILED_EXT);
  auto messages = TakeMessages("VUID-VkImportMemoryWin32HandleInfoKHR-handle-00659");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("abababab-abab-abab-abab-abababababab"), std::string::npos)
      << messages[0].text;
  EXPECT_NE(messages[0].text.find("cdcdcdcd-"), std::string::npos) << messages[0].text;
  dev->Free(seed);
}

}  // namespace
}  // namespace ntbridge::test
