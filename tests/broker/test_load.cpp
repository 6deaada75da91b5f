// Load (label "load"): 32 processes exporting and importing by name and KMT at once for 30 seconds, and 64
// processes opening one payload at the same moment. No failure, and no descriptor leaked in any process or in
// the broker.
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <sstream>

#include "broker_fixture.hpp"
#include "broker_launch.hpp"

namespace ntbridge::test {
namespace {

constexpr int kProcesses = 32;
constexpr int kSeconds = 30;

TEST(Load, ThirtyTwoProcessesShareByNameAndKmtForThirtySeconds) {
  Broker();
  std::string error;
  int connection = ConnectOrStartBroker(Broker().socket, NTBRIDGE_BROKER_PROGRAM, &error);
  ASSERT_GE(connection, 0) << error;
  close(connection);
  const int broker_fds = Broker().BrokerFdCountSettled(-1);  // settles: wait out the 3 s, then read
  const int own_fds = CountOpenFds();
  ASSERT_GT(broker_fds, 0);

  std::vector<std::unique_ptr<ChildProcess>> workers;
  for (int i = 0; i < kProcesses; ++i) {
    workers.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
        "load", std::to_string(i), std::to_string(kSeconds), std::to_string((i + 1) % kProcesses)}));
  }
  std::vector<std::string> anchors(kProcesses);
  for (int i = 0; i < kProcesses; ++i) {
    std::string line = workers[i]->Expect("ANCHOR ", 300000);
    ASSERT_FALSE(line.empty()) << "worker " << i << " did not start";
    anchors[i] = line.substr(7);
  }
  for (int i = 0; i < kProcesses; ++i) workers[i]->Send(anchors[(i + 1) % kProcesses]);

  long total = 0;
  for (int i = 0; i < kProcesses; ++i) {
    std::string line = workers[i]->Expect("DONE ", 300000);
    ASSERT_FALSE(line.empty()) << "worker " << i << " failed (see its output above)";
    std::istringstream in(line.substr(5));
    long iterations = 0;
    std::string fds_word;
    int before = 0, after = 0;
    in >> iterations >> fds_word >> before >> after;
    EXPECT_GT(iterations, 0) << "worker " << i;
    EXPECT_EQ(before, after) << "worker " << i << " leaked descriptors";
    total += iterations;
  }
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  ASSERT_TRUE(Broker().Status(&entries, &status));
  EXPECT_EQ(entries.size(), static_cast<size_t>(kProcesses)) << "only the anchors should be left";
  for (auto& w : workers) w->CloseInput();
  for (int i = 0; i < kProcesses; ++i) EXPECT_EQ(workers[i]->Wait(), 0) << "worker " << i;
  RecordProperty("iterations", std::to_string(total));
  std::printf("%d processes, %ld export/import rounds (each 2 exports by name and KMT, 4 imports)\n",
              kProcesses, total);

  ASSERT_TRUE(Broker().Status(&entries, &status));
  EXPECT_TRUE(entries.empty()) << entries.size() << " payloads left behind";
  EXPECT_EQ(Broker().BrokerFdCountSettled(broker_fds), broker_fds) << "the broker leaked descriptors";
  workers.clear();  // their pipes
  EXPECT_EQ(CountOpenFds(), own_fds);
}

// 64 processes, released together, each open one payload 50 times, by name and by KMT value in turn: 3 200
// imports of one payload, many at the same moment. Every descriptor the broker hands out for a payload shares
// one open file description, and Mesa's lavapipe reads a memfd payload's header through that description's
// file offset, so overlapping imports in several processes move each other's offset: the driver refuses some
// (8-30 of 3 200 before the layer retried those with a description of its own). None may fail.
TEST(Load, SixtyFourProcessesOpenOnePayloadAtOnce) {
  constexpr int kWorkers = 64;
  constexpr int kOpens = 50;
  constexpr uint32_t kValue = 0x64646464;
  Broker();
  ChildProcess exporter({"export", "Local\\ntbridge-load-64", "1048576", std::to_string(kValue), "kmt"});
  std::string kmt = exporter.Expect("KMT ", 300000);
  ASSERT_FALSE(kmt.empty()) << "the exporter did not start";
  kmt = kmt.substr(4);
  ASSERT_FALSE(exporter.Expect("READY", 300000).empty());

  // Without the validation layer below ntbridge: 64 processes of it would not fit in the test's time here.
  std::vector<std::unique_ptr<ChildProcess>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{"open-burst", "Local\\ntbridge-load-64", kmt, "1048576",
                                 std::to_string(kValue), std::to_string(kOpens)},
        std::vector<std::string>{"NTBRIDGE_TEST_NO_VALIDATION=1"}));
  }
  for (int i = 0; i < kWorkers; ++i)
    ASSERT_FALSE(workers[i]->Expect("READY", 600000).empty()) << "worker " << i;
  for (auto& w : workers) w->Send("GO");

  int failed = 0, retried = 0;
  for (int i = 0; i < kWorkers; ++i) {
    std::string line = workers[i]->Expect("DONE ", 600000);
    ASSERT_FALSE(line.empty()) << "worker " << i << " did not finish";
    std::istringstream in(line.substr(5));
    int failures = 0, refused = 0;
    long last = 0;
    in >> failures >> last >> refused;
    EXPECT_EQ(failures, 0) << "worker " << i << ": last failure VkResult " << last;
    failed += failures;
    retried += refused;
  }
  std::printf("%d processes, %d opens each: %d failed opens (%d refused by the driver at first, retried)\n",
              kWorkers, kOpens, failed, retried);
  RecordProperty("retried", std::to_string(retried));
  EXPECT_EQ(failed, 0) << "failed opens of " << kWorkers * kOpens;
  for (auto& w : workers) w->CloseInput();
  for (int i = 0; i < kWorkers; ++i) EXPECT_EQ(workers[i]->Wait(), 0) << "worker " << i;
  exporter.CloseInput();
  EXPECT_EQ(exporter.Wait(), 0);
}

}  // namespace
}  // namespace ntbridge::test
