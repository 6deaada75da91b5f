#include "description_table.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "nt_handle.hpp"
#include "validation/exported_payloads.hpp"
#include "vk_fixture.hpp"

namespace ntbridge {
namespace {

int OpenNull() { return open("/dev/null", O_RDWR | O_CLOEXEC); }
int Dup(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

TEST(OpenFileDescriptions, ADuplicateIsTheSameAndAnotherOpenIsNot) {
  int a = OpenNull(), b = OpenNull();
  int a2 = Dup(a);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(a2, 0);
  EXPECT_EQ(CompareOpenFileDescriptions(a, a2), 0) << "kcmp(2) is not permitted here";
  const int ab = CompareOpenFileDescriptions(a, b);
  EXPECT_TRUE(ab == -1 || ab == 1);
  EXPECT_EQ(CompareOpenFileDescriptions(b, a), -ab) << "the order is not antisymmetric";
  EXPECT_EQ(CompareOpenFileDescriptions(a, 1 << 20), kIncomparable);  // not a descriptor
  for (int fd : {a, b, a2}) close(fd);
}

// Many descriptions of the same device node in one bucket: each is found by any descriptor of it, whether the
// lookup comes before or after more entries are added (ordered at the first lookup, or still pending), and a
// forgotten one is no longer found and its kept descriptor is closed.
TEST(DescriptionTable, FindsEachDescriptionThroughAnyOfItsDescriptors) {
  DescriptionTable<std::string> table;
  std::vector<int> exported;
  std::vector<int> kept;
  auto add = [&](int i) {
    exported.push_back(OpenNull());
    kept.push_back(Dup(exported.back()));
    table.Add(kept.back(), 7, "payload " + std::to_string(i));
  };
  for (int i = 0; i < 20; ++i) add(i);
  int stranger = OpenNull();
  EXPECT_EQ(table.Find(stranger, 7), nullptr);  // orders the first 20
  for (int i = 20; i < 40; ++i) add(i);         // pending until the next lookup
  ASSERT_EQ(table.size(), 40u);
  for (int i : {39, 0, 17, 25, 3, 38, 20}) {
    int probe = Dup(exported[i]);
    const std::string* found = table.Find(probe, 7);
    ASSERT_NE(found, nullptr) << i;
    EXPECT_EQ(*found, "payload " + std::to_string(i));
    EXPECT_EQ(table.Find(probe, 8), nullptr) << "found in another bucket";
    close(probe);
  }
  // Forget ordered and pending entries alike.
  add(40);
  for (int i : {0, 40, 21, 39}) {
    table.Forget(kept[i]);
    EXPECT_EQ(fcntl(kept[i], F_GETFD), -1) << "kept descriptor " << i << " is still open";
    EXPECT_EQ(table.Find(exported[i], 7), nullptr) << i;
  }
  EXPECT_EQ(table.size(), 37u);
  EXPECT_NE(table.Find(exported[1], 7), nullptr);
  EXPECT_EQ(table.Find(stranger, 7), nullptr);
  EXPECT_EQ(table.Find(1 << 20, 7), nullptr) << "a closed descriptor matched";
  for (int fd : exported) close(fd);
  close(stranger);
}

// Two entries may hold one description (a driver that exports the same description for two memory objects):
// either is found while one lives.
TEST(DescriptionTable, TwoEntriesOfOneDescription) {
  DescriptionTable<int> table;
  int exported = OpenNull();
  int first = Dup(exported), second = Dup(exported);
  table.Add(first, 0, 1);
  EXPECT_NE(table.Find(exported, 0), nullptr);
  table.Add(second, 0, 2);
  ASSERT_NE(table.Find(exported, 0), nullptr);
  table.Forget(first);
  const int* found = table.Find(exported, 0);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found, 2);
  table.Forget(second);
  EXPECT_EQ(table.Find(exported, 0), nullptr);
  EXPECT_EQ(table.size(), 0u);
  close(exported);
}

// Semaphores' and fences' driver payloads: the record lives as long as the reference the layer keeps of it.
TEST(ExportedSyncPayloads, FoundThroughADuplicateUntilTheRecordGoes) {
  int exported = OpenNull();
  SyncExporter exporter;
  exporter.kind = SyncKind::kFence;
  exporter.semaphore_type = VK_SEMAPHORE_TYPE_TIMELINE;
  auto record = RecordExportedSyncPayload(exported, exporter);
  ASSERT_NE(record, nullptr) << "kcmp(2) is not permitted here";
  int copy = Dup(exported);
  auto found = FindExportedSyncPayload(copy);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->kind, SyncKind::kFence);
  EXPECT_EQ(found->semaphore_type, VK_SEMAPHORE_TYPE_TIMELINE);
  int stranger = OpenNull();
  EXPECT_FALSE(FindExportedSyncPayload(stranger).has_value());
  const int fds = test::CountOpenFds();
  record.reset();  // the last reference: the kept duplicate is closed
  EXPECT_EQ(test::CountOpenFds(), fds - 1);
  EXPECT_FALSE(FindExportedSyncPayload(copy).has_value());
  for (int fd : {exported, copy, stranger}) close(fd);
}

}  // namespace
}  // namespace ntbridge
