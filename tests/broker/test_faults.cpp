// Faults: an exporter, an importer or the broker itself killed with SIGKILL.
#include <csignal>

#include "broker_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;

class Faults : public BrokerTest {
 protected:
  std::vector<protocol::StatusEntry> Entries() {
    std::vector<protocol::StatusEntry> entries;
    protocol::StatusReply status;
    EXPECT_TRUE(Broker().Status(&entries, &status));
    return entries;
  }
};

TEST_F(Faults, KilledExporterLeavesImportersDataIntactAndLosesItsHolds) {
  ChildProcess exporter({"export", "Local\\victim", std::to_string(kSize), "0xDA7A", "kmt"});
  std::string kmt_line = exporter.Expect("KMT ");
  ASSERT_FALSE(kmt_line.empty());
  uint32_t kmt = static_cast<uint32_t>(std::stoul(kmt_line.substr(4)));
  ASSERT_EQ(exporter.Expect("READY"), "READY");
  VkResult r;
  VkDeviceMemory by_name = dev->ImportHandle(kSize, kNt, nullptr, L"Local\\victim", &r);
  ASSERT_EQ(r, VK_SUCCESS);
  VkDeviceMemory by_kmt = dev->ImportHandle(kSize, kKmt, KmtHandle(kmt), nullptr, &r);
  ASSERT_EQ(r, VK_SUCCESS);
  dev->WriteU32(by_name, 0xBEEF, 8);

  exporter.Kill(SIGKILL);
  EXPECT_EQ(exporter.Wait(), 128 + SIGKILL);
  EXPECT_EQ(dev->ReadU32(by_name), 0xDA7Au);
  EXPECT_EQ(dev->ReadU32(by_kmt, 8), 0xBEEFu);
  auto entries = Entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].holders, (std::vector<uint32_t>{uint32_t(getpid()), uint32_t(getpid())}))
      << "the broker still counts a hold of the killed exporter";
  dev->Free(by_name);
  dev->Free(by_kmt);
  EXPECT_TRUE(Entries().empty());
  VkDeviceMemory reused = ExportNamed(L"Local\\victim", kSize);
  EXPECT_NE(reused, VK_NULL_HANDLE) << "the killed exporter's name was not released";
  dev->Free(reused);
}

TEST_F(Faults, KilledExporterAloneReleasesEverything) {
  ChildProcess exporter({"export", "Local\\alone", std::to_string(kSize), "1", "kmt"});
  ASSERT_EQ(exporter.Expect("READY"), "READY");
  int broker_fds = Broker().BrokerFdCount();
  EXPECT_EQ(Entries().size(), 1u);
  exporter.Kill(SIGKILL);
  exporter.Wait();
  EXPECT_TRUE(Entries().empty());
  // Two descriptors: the payload's and the connection's (its release ring, protocol revision 6, is a mapping
  // whose descriptor the broker closed when it handed the ring out).
  EXPECT_EQ(Broker().BrokerFdCountSettled(broker_fds - 2), broker_fds - 2)
      << "the payload's descriptor or the connection leaked";
}

TEST_F(Faults, KilledImporterChangesNothingForOthers) {
  VkDeviceMemory memory = ExportNamed(L"Local\\shared", kSize);
  dev->WriteU32(memory, 0x5EED);
  uint32_t kmt = Kmt(memory);
  ChildProcess doomed({"import-kmt", std::to_string(kmt), std::to_string(kSize), "0x5EED", "0x1"});
  ChildProcess survivor({"import-name", "Local\\shared", std::to_string(kSize), "0x5EED", "0x2"});
  ASSERT_EQ(doomed.Expect("IMPORTED"), "IMPORTED");
  ASSERT_EQ(survivor.Expect("IMPORTED"), "IMPORTED");
  doomed.Kill(SIGKILL);
  EXPECT_EQ(doomed.Wait(), 128 + SIGKILL);
  auto entries = Entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].holders, (std::vector<uint32_t>{uint32_t(getpid()), uint32_t(survivor.pid())}));
  ChildProcess late({"import-kmt", std::to_string(kmt), std::to_string(kSize), "0x5EED", "0x3"});
  ASSERT_EQ(late.Expect("IMPORTED"), "IMPORTED");
  late.CloseInput();
  EXPECT_EQ(late.Wait(), 0);
  survivor.CloseInput();
  EXPECT_EQ(survivor.Wait(), 0);
  dev->Free(memory);
  EXPECT_TRUE(Entries().empty());
}

TEST_F(Faults, KilledBrokerLeavesImportsIntactAndANewOneStartsWithFreshValues) {
  VkDeviceMemory memory = ExportNamed(L"Local\\before", kSize);
  dev->WriteU32(memory, 0xC0DE);
  uint32_t old_kmt = Kmt(memory);
  ChildProcess importer({"import-kmt", std::to_string(old_kmt), std::to_string(kSize), "0xC0DE", "0xF00D"});
  ASSERT_EQ(importer.Expect("IMPORTED"), "IMPORTED");
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply before;
  ASSERT_TRUE(Broker().Status(&entries, &before));

  Broker().StopBroker(SIGKILL);
  EXPECT_EQ(Broker().BrokerPid(), 0);
  EXPECT_EQ(dev->ReadU32(memory, 4), 0xF00Du) << "the import lost its memory with the broker";
  dev->WriteU32(memory, 0xAF7E, 8);
  importer.CloseInput();
  EXPECT_EQ(importer.Wait(), 0) << "the importer could not free its memory without the broker";

  // The next request starts a new broker, which issues values the old one never did.
  VkDeviceMemory after = dev->AllocateExportable(kSize, kKmt);
  uint32_t new_kmt = Kmt(after);
  EXPECT_NE(new_kmt, 0u);
  EXPECT_NE(new_kmt, old_kmt);
  protocol::StatusReply now;
  ASSERT_TRUE(Broker().Status(&entries, &now));
  EXPECT_NE(now.broker_pid, before.broker_pid);
  EXPECT_EQ(now.kmt_generation, before.kmt_generation + 1);
  VkResult r;
  dev->ImportHandle(kSize, kKmt, KmtHandle(old_kmt), nullptr, &r);
  EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE) << "a stale value of the dead broker was accepted";
  EXPECT_EQ(TakeMessages("ntbridge-broker").size(), 1u);
  // Old memory keeps its KMT value on this side (the spec says the same value on every call), and its name
  // can be taken by a new export now that the broker that held it is gone.
  EXPECT_EQ(Kmt(memory), old_kmt);
  VkDeviceMemory renamed = ExportNamed(L"Local\\before", kSize);
  EXPECT_NE(renamed, VK_NULL_HANDLE);
  dev->Free(renamed);
  dev->Free(after);
  dev->Free(memory);
  vk->monitor.Clear();  // info messages about releases the dead broker could not take
}

}  // namespace
}  // namespace ntbridge::test
