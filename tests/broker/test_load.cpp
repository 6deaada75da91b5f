// Load: 32 processes exporting and importing by name and KMT at once for 30 seconds (label "load"). No
// failure, and no descriptor leaked in any process or in the broker.
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

}  // namespace
}  // namespace ntbridge::test
