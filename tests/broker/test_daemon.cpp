// The daemon: started on first need exactly once, found beside the layer, its folder, logging, idle exit,
// and hostile or malformed messages, which close that connection and nothing else.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "broker_client.hpp"
#include "broker_fixture.hpp"
#include "broker_launch.hpp"
#include "socket_path.hpp"
#include "wire.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;

class Daemon : public BrokerTest {};

TEST_F(Daemon, ManyProcessesStartingAtOnceStartOneBroker) {
  ASSERT_EQ(Broker().BrokerPid(), 0);
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (int i = 0; i < 12; ++i) {
    children.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{"connect", Broker().socket},
        std::vector<std::string>{"NTBRIDGE_BROKER_PATH=" NTBRIDGE_BROKER_PROGRAM}));
  }
  std::set<std::string> pids;
  for (auto& c : children) {
    std::string line = c->Expect("PID");
    EXPECT_FALSE(line.empty());
    pids.insert(line);
    EXPECT_EQ(c->Wait(), 0);
  }
  EXPECT_EQ(pids.size(), 1u) << "more than one broker answered";
  EXPECT_EQ("PID " + std::to_string(Broker().BrokerPid()), *pids.begin());
}

TEST_F(Daemon, TheLayerFindsTheBrokerBesideItselfAndItLogsAtTheChosenLevel) {
  // No NTBRIDGE_BROKER_PATH here: the layer looks beside its library.
  ASSERT_EQ(getenv("NTBRIDGE_BROKER_PATH"), nullptr);
  VkDeviceMemory memory = ExportNamed(L"Local\\logged", kSize);
  EXPECT_NE(Broker().BrokerPid(), 0);
  struct stat st {};
  ASSERT_EQ(stat(Broker().folder.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(Broker().socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(Broker().Log().find("published payload"), std::string::npos) << Broker().Log();
  EXPECT_EQ(Broker().Log().find(" debug: "), std::string::npos) << "debug lines at level info";
  dev->Free(memory);
}

TEST_F(Daemon, AMissingBrokerProgramGivesAClearError) {
  setenv("NTBRIDGE_BROKER_PATH", "/nonexistent/ntbridged", 1);
  VkResult r;
  ExportNamed(L"Local\\nobroker", kSize, &r);
  unsetenv("NTBRIDGE_BROKER_PATH");
  EXPECT_EQ(r, VK_ERROR_INVALID_EXTERNAL_HANDLE);
  auto messages = TakeMessages("ntbridge-broker");
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].text.find("ntbridged program was not found"), std::string::npos) << messages[0].text;
}

TEST_F(Daemon, UsesXdgRuntimeDirWhenSet) {
  char pattern[] = "/tmp/ntbx-XXXXXX";
  std::string runtime = mkdtemp(pattern);
  {
    ChildProcess exporter({"export", "Local\\xdg", std::to_string(kSize), "7"},
                          {"XDG_RUNTIME_DIR=" + runtime, "VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET"});
    ASSERT_EQ(exporter.Expect("READY"), "READY");
    struct stat st {};
    ASSERT_EQ(stat((runtime + "/ntbridge/broker.sock").c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    ASSERT_EQ(stat((runtime + "/ntbridge").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    BrokerClient client;
    client.SetOptions({runtime + "/ntbridge/broker.sock", "", false});
    std::vector<protocol::StatusEntry> entries;
    protocol::StatusReply status;
    std::string error;
    ASSERT_TRUE(client.Status(&entries, &status, &error)) << error;
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].name, "Local\\xdg");
    exporter.CloseInput();
    EXPECT_EQ(exporter.Wait(), 0);
    const auto pid = static_cast<pid_t>(status.broker_pid);
    kill(pid, SIGTERM);
    for (int i = 0; i < 300 && ProcessAlive(pid); ++i) usleep(10000);
    EXPECT_FALSE(ProcessAlive(pid));
  }
  std::error_code ec;
  std::filesystem::remove_all(runtime, ec);
}

TEST_F(Daemon, FallsBackToTmpWithoutXdgRuntimeDir) {
  std::string saved = getenv("XDG_RUNTIME_DIR") ? getenv("XDG_RUNTIME_DIR") : "";
  unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(BrokerSocketPath(), "/tmp/ntbridge-" + std::to_string(geteuid()) + "/broker.sock");
  setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
  EXPECT_EQ(BrokerSocketPath(), "/run/user/1000/ntbridge/broker.sock");
  EXPECT_EQ(BrokerSocketPath("/x/y.sock"), "/x/y.sock");
  if (saved.empty()) {
    unsetenv("XDG_RUNTIME_DIR");
  } else {
    setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
  }
  // And for real, in a child with neither the variable nor an override (the shared default of this user).
  std::string name = "Local\\fallback-" + std::to_string(getpid());
  ChildProcess exporter({"export", name, std::to_string(kSize), "9"},
                        {"XDG_RUNTIME_DIR", "VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET"});
  ASSERT_EQ(exporter.Expect("READY"), "READY");
  BrokerClient client;
  client.SetOptions({"/tmp/ntbridge-" + std::to_string(geteuid()) + "/broker.sock", "", false});
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply status;
  std::string error;
  ASSERT_TRUE(client.Status(&entries, &status, &error)) << error;
  bool found = false;
  for (const auto& e : entries) found |= e.name == name;
  EXPECT_TRUE(found);
  exporter.CloseInput();
  EXPECT_EQ(exporter.Wait(), 0);
}

TEST_F(Daemon, ExitsWhenIdleAndRefusesBadArguments) {
  ChildProcess idle({"--socket", Broker().socket, "--idle-exit", "1"}, {}, NTBRIDGE_BROKER_PROGRAM);
  EXPECT_EQ(idle.Wait(), 0);
  EXPECT_FALSE(std::filesystem::exists(Broker().socket)) << "the socket file outlived the broker";
  ChildProcess bad_level({"--socket", Broker().socket}, {"NTBRIDGE_BROKER_LOG=loud"},
                         NTBRIDGE_BROKER_PROGRAM);
  EXPECT_EQ(bad_level.Wait(), 64);
  ChildProcess bad_arg({"--idle-exit", "soon"}, {}, NTBRIDGE_BROKER_PROGRAM);
  EXPECT_EQ(bad_arg.Wait(), 64);
}

// As systemd's ntbridged.socket starts it: the listening socket is descriptor 3 (LISTEN_FDS, LISTEN_PID).
TEST_F(Daemon, AdoptsASocketFromSystemdActivation) {
  std::string error;
  ASSERT_TRUE(EnsurePrivateFolder(Broker().folder, &error)) << error;
  int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, Broker().socket.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  pid_t pid = fork();
  if (pid == 0) {  // exec at once: nothing of this process's Vulkan state is used
    dup2(listener, 3);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
    setenv("LISTEN_FDS", "1", 1);
    execl(NTBRIDGE_BROKER_PROGRAM, NTBRIDGE_BROKER_PROGRAM, "--socket", Broker().socket.c_str(), nullptr);
    _exit(127);
  }
  close(listener);
  VkDeviceMemory memory = ExportNamed(L"Local\\activated", kSize);
  EXPECT_EQ(Broker().BrokerPid(), pid) << "the layer did not reach the socket-activated broker";
  dev->Free(memory);
  kill(pid, SIGTERM);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(std::filesystem::exists(Broker().socket)) << "the broker removed systemd's socket file";
  unlink(Broker().socket.c_str());
}

// Sends `bytes` (with `fds`) on a fresh connection; true when the broker then closed that connection.
bool ClosesConnection(const std::vector<uint8_t>& bytes, const std::vector<int>& fds = {}) {
  int s = ConnectTo(Broker().socket);
  if (s < 0) return false;
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  sendmsg(s, &msg, MSG_NOSIGNAL);
  timeval timeout{5, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char reply[64];
  ssize_t n = recv(s, reply, sizeof reply, 0);
  close(s);
  return n == 0;
}

TEST_F(Daemon, MalformedMessagesCloseOnlyTheirConnection) {
  VkDeviceMemory memory = ExportNamed(L"Local\\survives", kSize);
  dev->WriteU32(memory, 0xA11CE);
  uint32_t kmt = Kmt(memory);
  int fds = Broker().BrokerFdCount();  // before any status request, whose connection would count
  pid_t pid = Broker().BrokerPid();
  int memfd = memfd_create("hostile", MFD_CLOEXEC);

  // Each connection says no kHello: it speaks revision 1, whose layout the messages are in.
  constexpr uint32_t kLayout = 1;
  auto valid = protocol::EncodeMessage(protocol::Type::kOpen, false, protocol::OpenRequest{kmt, ""}, kLayout);
  std::vector<uint8_t> garbage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  std::vector<uint8_t> truncated(valid.begin(), valid.begin() + 8);
  auto wrong_version = valid;
  wrong_version[4] = 2;
  std::vector<uint8_t> short_body(valid.begin(), valid.end() - 1);
  std::vector<uint8_t> oversized = valid;
  oversized.resize(protocol::kMaxMessage + 100, 0);
  auto reply_type =
      protocol::EncodeMessage(protocol::Type::kOpen, true, protocol::OpenRequest{kmt, ""}, kLayout);
  auto publish = protocol::EncodeMessage(protocol::Type::kPublish, false,
                                         protocol::PublishRequest{protocol::kPublishKmt, {}, ""}, kLayout);
  auto bad_name =
      protocol::EncodeMessage(protocol::Type::kOpen, false, protocol::OpenRequest{0, ""}, kLayout);

  EXPECT_TRUE(ClosesConnection(garbage));
  EXPECT_TRUE(ClosesConnection(truncated));
  EXPECT_TRUE(ClosesConnection(wrong_version));
  EXPECT_TRUE(ClosesConnection(short_body));
  EXPECT_TRUE(ClosesConnection(oversized));
  EXPECT_TRUE(ClosesConnection(reply_type));
  EXPECT_TRUE(ClosesConnection(bad_name));
  EXPECT_TRUE(ClosesConnection(publish)) << "a publish without its descriptor";
  EXPECT_TRUE(ClosesConnection(valid, {memfd})) << "an open that came with a descriptor";
  EXPECT_TRUE(ClosesConnection(publish, {memfd, memfd})) << "a publish with two descriptors";
  EXPECT_TRUE(ClosesConnection(valid, {memfd, memfd, memfd, memfd})) << "more descriptors than expected";
  close(memfd);

  EXPECT_EQ(Broker().BrokerPid(), pid) << "the broker died";
  EXPECT_EQ(Broker().BrokerFdCountSettled(fds), fds) << "the broker kept descriptors of closed connections";
  VkResult r;
  VkDeviceMemory imported = dev->ImportHandle(kSize, kKmt, KmtHandle(kmt), nullptr, &r);
  ASSERT_EQ(r, VK_SUCCESS) << "this process's connection or its share did not survive";
  EXPECT_EQ(dev->ReadU32(imported), 0xA11CEu);
  dev->Free(imported);
  dev->Free(memory);
  EXPECT_NE(Broker().Log().find("malformed request"), std::string::npos);
}

}  // namespace
}  // namespace ntbridge::test
