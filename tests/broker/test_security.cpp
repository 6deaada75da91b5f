// Security: another user's process cannot reach this user's broker or use its names and KMT values; the
// broker checks every peer's credentials even where the folder's mode would let it in.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "broker_fixture.hpp"
#include "broker_launch.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;
constexpr uid_t kOtherUid = 65534;  // nobody
const std::string kInvalid = "RESULT " + std::to_string(VK_ERROR_INVALID_EXTERNAL_HANDLE);

// A scratch folder the other user owns, for its own broker.
class OtherUserFolder {
 public:
  OtherUserFolder() {
    char pattern[] = "/tmp/ntbn-XXXXXX";
    path = mkdtemp(pattern);
    chown(path.c_str(), kOtherUid, kOtherUid);
    socket = path + "/broker/broker.sock";
  }
  ~OtherUserFolder() {
    pid_t pid = 0;
    std::ifstream(path + "/broker/broker.pid") >> pid;
    if (pid > 0) kill(pid, SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  uid_t BrokerUid() {
    pid_t pid = 0;
    std::ifstream(path + "/broker/broker.pid") >> pid;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Uid:", 0) == 0) return static_cast<uid_t>(std::stoul(line.substr(4)));
    }
    return static_cast<uid_t>(-1);
  }
  std::string path;
  std::string socket;
};

class Security : public BrokerTest {};

TEST_F(Security, AnotherUserCannotResolveANameOrAKmtValue) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops to another uid and needs root";
  VkDeviceMemory memory = ExportNamed(L"Local\\private", kSize);
  dev->WriteU32(memory, 0x5EC);
  uint32_t kmt = Kmt(memory);
  OtherUserFolder other;
  const std::string uid = std::to_string(kOtherUid);
  // Pointed at this user's socket: the private folder keeps it out.
  for (auto args : {std::vector<std::string>{"import-name", "Local\\private"},
                    std::vector<std::string>{"import-kmt", std::to_string(kmt)}}) {
    args.insert(args.begin(), {"--as-uid", uid});
    args.insert(args.end(), {std::to_string(kSize), "0x5EC", "1"});
    ChildProcess child(args);
    EXPECT_EQ(child.Expect("RESULT"), kInvalid) << args[2];
    EXPECT_EQ(child.Wait(), 2);
  }
  // With its own broker (as a normal setup would have it): it knows nothing of this user's objects.
  for (auto args : {std::vector<std::string>{"import-name", "Local\\private"},
                    std::vector<std::string>{"import-kmt", std::to_string(kmt)}}) {
    args.insert(args.begin(), {"--as-uid", uid});
    args.insert(args.end(), {std::to_string(kSize), "0x5EC", "1"});
    ChildProcess child(args, {"VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET=" + other.socket});
    EXPECT_EQ(child.Expect("RESULT"), kInvalid) << args[2];
    EXPECT_EQ(child.Wait(), 2);
  }
  EXPECT_EQ(other.BrokerUid(), kOtherUid) << "the other user's broker does not run as that user";
  EXPECT_EQ(dev->ReadU32(memory, 4), 0u) << "another user wrote to this user's memory";
  dev->Free(memory);
}

TEST_F(Security, TheBrokerRefusesPeersOfAnotherUidEvenWhenTheFolderIsOpen) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops to another uid and needs root";
  VkDeviceMemory memory = ExportNamed(L"Local\\guarded", kSize);  // starts the broker
  const std::string& folder = Broker().folder;
  int fds = Broker().BrokerFdCount();
  // Loosen what the file system guards, so that only SO_PEERCRED is left to refuse.
  ASSERT_EQ(chmod(Broker().root.c_str(), 0755), 0);
  ASSERT_EQ(chmod(folder.c_str(), 0755), 0);
  ASSERT_EQ(chmod(Broker().socket.c_str(), 0666), 0);
  ChildProcess other({"--as-uid", std::to_string(kOtherUid), "raw-status", Broker().socket});
  int status = other.Wait();
  ChildProcess same({"raw-status", Broker().socket});
  int same_status = same.Wait();
  chmod(folder.c_str(), 0700);
  chmod(Broker().socket.c_str(), 0600);
  chmod(Broker().root.c_str(), 0700);
  EXPECT_EQ(status, 6) << "the broker answered another uid";
  EXPECT_EQ(same_status, 0) << "the broker did not answer its own user";
  EXPECT_NE(Broker().Log().find("of uid 65534: this broker serves uid 0 only"), std::string::npos)
      << Broker().Log();
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds), fds);
  dev->Free(memory);
}

TEST_F(Security, AClientRefusesABrokerOfAnotherUser) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops to another uid and needs root";
  OtherUserFolder other;
  // The other user's broker, started by its own process.
  ChildProcess starter({"--as-uid", std::to_string(kOtherUid), "connect", other.socket},
                       {"NTBRIDGE_BROKER_PATH=" NTBRIDGE_BROKER_PROGRAM});
  ASSERT_EQ(starter.Expect("PID").substr(0, 4), "PID ");
  EXPECT_EQ(starter.Wait(), 0);
  ASSERT_EQ(other.BrokerUid(), kOtherUid);
  // Root gets past the folder's mode; the client still refuses to talk to it.
  errno = 0;
  EXPECT_EQ(ConnectTo(other.socket), -1);
  EXPECT_EQ(errno, EPERM);
  std::string error;
  EXPECT_EQ(ConnectOrStartBroker(other.socket, "", &error), -1);
  EXPECT_NE(error.find("runs as another user"), std::string::npos) << error;
}

TEST_F(Security, AFolderOthersCanEnterIsRefused) {
  char pattern[] = "/tmp/ntbo-XXXXXX";
  std::string root = mkdtemp(pattern);
  std::string folder = root + "/open";
  ASSERT_EQ(mkdir(folder.c_str(), 0777), 0);
  chmod(folder.c_str(), 0777);
  ChildProcess broker({"--socket", folder + "/broker.sock"}, {}, NTBRIDGE_BROKER_PROGRAM);
  EXPECT_EQ(broker.Wait(), 1);
  EXPECT_FALSE(std::filesystem::exists(folder + "/broker.sock"));
  // A link in place of the folder is refused too.
  std::string link = root + "/link";
  ASSERT_EQ(symlink("/tmp", link.c_str()), 0);
  ChildProcess linked({"--socket", link + "/broker.sock"}, {}, NTBRIDGE_BROKER_PROGRAM);
  EXPECT_EQ(linked.Wait(), 1);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace
}  // namespace ntbridge::test
