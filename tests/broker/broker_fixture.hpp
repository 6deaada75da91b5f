// Support of the broker tests: a private broker folder per test process, child processes (broker_child)
// that talk over pipes, and views of the broker from outside (its status, pid and open descriptors).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "protocol.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {

inline constexpr VkExternalMemoryHandleTypeFlagBits kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
inline constexpr VkExternalMemoryHandleTypeFlagBits kKmt =
    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

// A broker_child process; its stdin and stdout are pipes to the test.
class ChildProcess {
 public:
  // `env`: "NAME=value" sets, "NAME" removes, on top of this process's environment. `program`: another
  // program than broker_child (e.g. ntbridged itself).
  explicit ChildProcess(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                        const std::string& program = NTBRIDGE_BROKER_CHILD);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line the child printed, without the newline; empty on end of output or after `timeout_ms`.
  std::string ReadLine(int timeout_ms = 120000);
  // Reads lines until one starts with `prefix` and returns it (empty if none came).
  std::string Expect(const std::string& prefix, int timeout_ms = 120000);
  void CloseInput();  // the child frees what it holds and exits
  void Send(const std::string& line);
  void Kill(int signal);
  int Wait();  // exit status, or 128 + signal
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buffer_;
  int status_ = -1;
};

// The broker of this test process: its own folder under /tmp, made known to the layer (in this process and
// every child) by VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET.
class BrokerFolder {
 public:
  BrokerFolder();
  ~BrokerFolder();
  std::string root;    // the test's scratch folder
  std::string folder;  // the broker's private folder
  std::string socket;

  // The status as the broker tells it (without starting one); false when none answers.
  bool Status(std::vector<protocol::StatusEntry>* entries, protocol::StatusReply* reply);
  pid_t BrokerPid();    // 0 when none answers
  pid_t PidFromFile();  // the running broker's pid from its lock file, 0 when none runs
  int BrokerFdCount();  // descriptors the broker has open, -1 when none answers
  // The count once it equals `expected`, or what it is after waiting 3 s for that (closes are asynchronous).
  int BrokerFdCountSettled(int expected);
  void StopBroker(int signal = SIGTERM);  // and wait until it is gone
  std::string Log();                      // what the broker wrote to broker.log
};

// Stops the broker (SIGSTOP) for the life of this object, so that messages sent meanwhile are all queued when
// it goes on (SIGCONT): they meet in one turn of its loop, the case where a release races a request.
class FrozenBroker {
 public:
  FrozenBroker();
  ~FrozenBroker();
  FrozenBroker(const FrozenBroker&) = delete;
  FrozenBroker& operator=(const FrozenBroker&) = delete;
  bool ok() const { return pid_ > 0; }

 private:
  pid_t pid_ = 0;
};

// The process-wide folder (made on first use, removed at exit).
BrokerFolder& Broker();

// Descriptors open in process `pid`.
int FdCount(pid_t pid);
bool ProcessAlive(pid_t pid);

// A LayerTest whose broker is fresh: stopped after each test.
class BrokerTest : public LayerTest {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Messages of the test's own instance with this id (taking them, so TearDown does not count them).
  std::vector<Message> TakeMessages(const std::string& id);
  VkDeviceMemory ExportNamed(const std::wstring& name, VkDeviceSize size, VkResult* result = nullptr);
  uint32_t Kmt(VkDeviceMemory memory);
};

std::string HandleText(HANDLE h);
HANDLE KmtHandle(uint32_t value);

}  // namespace ntbridge::test
