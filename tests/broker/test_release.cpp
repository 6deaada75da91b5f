// vkFreeMemory does not wait for the broker (its release is one-way), yet it is exact: once vkFreeMemory of
// the last memory object of a name or KMT value returns, an open that another process starts afterwards
// fails, and the name can be taken again at once, by this process or any other. Each loop stops at its count
// or when NTBRIDGE_STRESS_SECONDS have passed, after a floor of iterations that covers every variant.
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "broker_client.hpp"
#include "broker_fixture.hpp"
#include "stress_budget.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 65536;
const std::string kRefused = "RESULT " + std::to_string(VK_ERROR_INVALID_EXTERNAL_HANDLE);
const std::string kSucceeded = "RESULT " + std::to_string(VK_SUCCESS);

std::wstring Wide(const std::string& s) { return std::wstring(s.begin(), s.end()); }

class FreedShares : public BrokerTest {
 protected:
  // Two other processes ("serve" children): one connected to the broker before this process and one after,
  // so that in a turn of the broker's loop one is served before this process's connection and one after.
  void StartOpeners() {
    early_ = std::make_unique<ChildProcess>(std::vector<std::string>{"serve"});
    ASSERT_EQ(early_->Expect("READY"), "READY");
    VkDeviceMemory first = ExportNamed(L"Local\\connects", kSize);  // this process's connection
    dev->Free(first);
    late_ = std::make_unique<ChildProcess>(std::vector<std::string>{"serve"});
    ASSERT_EQ(late_->Expect("READY"), "READY");
  }
  ChildProcess& Opener(int i) { return i % 2 == 0 ? *early_ : *late_; }
  // What the opener is asked to do in iteration i: by name, by name, by KMT value, by KMT value, ...
  static std::string OpenCommand(int i, const std::string& name, uint32_t kmt) {
    return (i / 2) % 2 == 0 ? "open-name " + name + " " + std::to_string(kSize)
                            : "open-kmt " + std::to_string(kmt) + " " + std::to_string(kSize);
  }
  std::unique_ptr<ChildProcess> early_;
  std::unique_ptr<ChildProcess> late_;
};

TEST_F(FreedShares, AnOpenThatAnotherProcessStartsAfterTheLastFreeFails) {
  StartOpeners();
  StressBudget budget("free, then another process opens", 200, 20);
  for (int i = 0; budget.Continue(i); ++i) {
    std::string name = "Local\\race-" + std::to_string(i);
    VkDeviceMemory memory = ExportNamed(Wide(name), kSize);
    uint32_t kmt = Kmt(memory);
    dev->Free(memory);
    Opener(i).Send(OpenCommand(i, name, kmt));  // the pipe is the signal: vkFreeMemory has returned
    ASSERT_EQ(Opener(i).Expect("RESULT"), kRefused) << "iteration " << i << ": " << OpenCommand(i, name, kmt)
                                                    << " succeeded after the last vkFreeMemory returned";
    budget.Completed();
  }
  budget.Report();
}

// The broker is stopped from before vkFreeMemory until the other process's open is queued, so that the
// release and the open meet in one turn of the broker's loop (the release never waits for the broker).
TEST_F(FreedShares, AnOpenQueuedWithTheReleaseFails) {
  StartOpeners();
  StressBudget budget("release and open in one turn of the broker", 40, 8);
  for (int i = 0; budget.Continue(i); ++i) {
    std::string name = "Local\\queued-" + std::to_string(i);
    VkDeviceMemory memory = ExportNamed(Wide(name), kSize);
    uint32_t kmt = Kmt(memory);
    {
      FrozenBroker frozen;
      ASSERT_TRUE(frozen.ok());
      dev->Free(memory);
      Opener(i).Send(OpenCommand(i, name, kmt));
      ASSERT_EQ(Opener(i).Expect("OPENING"), "OPENING");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // for its request to reach the broker
    }
    ASSERT_EQ(Opener(i).Expect("RESULT"), kRefused) << "iteration " << i << ": " << OpenCommand(i, name, kmt);
    budget.Completed();
  }
  budget.Report();
}

// Publishes `name` on a connection of its own (a second client of this process).
protocol::Status PublishOnAnotherConnection(const std::string& name) {
  int fd = memfd_create("another-connection", MFD_CLOEXEC);
  BrokerClient client;
  client.SetOptions({Broker().socket, "", false});
  protocol::PublishReply reply;
  std::string error;
  bool sent = client.Publish(protocol::PublishRequest{protocol::kPublishName, {}, name}, fd, &reply, &error);
  close(fd);
  EXPECT_TRUE(sent) << error;
  return sent ? reply.status : protocol::Status::kBadRequest;
}

TEST_F(FreedShares, AFreedNameCanBeTakenAgainAtOnce) {
  const std::wstring name = L"Local\\again";
  ChildProcess other({"serve"});
  ASSERT_EQ(other.Expect("READY"), "READY");
  VkDeviceMemory memory = ExportNamed(name, kSize);
  StressBudget budget("a freed name taken again (two loops, of 200 and 100)", 200,
                      20);  // one budget for both
  for (int i = 0; budget.Continue(i); ++i) {
    dev->Free(memory);
    VkResult r;
    memory = ExportNamed(name, kSize, &r);  // on the same connection
    ASSERT_EQ(r, VK_SUCCESS) << "iteration " << i;
    budget.Completed();
  }
  dev->Free(memory);
  for (int i = 0; budget.Continue(i) && i < 100; ++i) {
    memory = ExportNamed(name, kSize);
    dev->Free(memory);
    if (i % 2 == 0) {
      // Another process, which frees it before it answers.
      other.Send("export-name Local\\again " + std::to_string(kSize));
      ASSERT_EQ(other.Expect("RESULT"), kSucceeded) << "iteration " << i;
    } else {
      ASSERT_EQ(PublishOnAnotherConnection("Local\\again"), protocol::Status::kOk) << "iteration " << i;
    }
    budget.Completed();
  }
  budget.Report();
  other.CloseInput();
  EXPECT_EQ(other.Wait(), 0);
}

}  // namespace
}  // namespace ntbridge::test
