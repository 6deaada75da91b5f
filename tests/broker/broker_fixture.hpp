// Support of the broker tests: a private broker folder per test process, child processes (broker_child)
// that talk over pipes, and views of the broker from outside (its status, pid and open descriptors).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol.hpp"
#include "release_ring.hpp"
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

// A body in the layout of `revision`, for the bodies that have one per revision (protocol.hpp).
template <typename T>
std::vector<uint8_t> EncodeBodyIn(const T& m, uint32_t revision) {
  if constexpr (requires { protocol::EncodeBody(m, revision); }) {
    return protocol::EncodeBody(m, revision);
  } else {
    return protocol::EncodeBody(m);
  }
}
template <typename T>
bool DecodeBodyIn(std::span<const uint8_t> body, T* m, std::string* error, uint32_t revision) {
  if constexpr (requires { protocol::DecodeBody(body, m, error, revision); }) {
    return protocol::DecodeBody(body, m, error, revision);
  } else {
    return protocol::DecodeBody(body, m, error);
  }
}

// One connection to the test's broker (started on first need) that speaks the protocol directly, as a client
// of any kind could, with no client logic in between. It speaks `revision`: from revision 2 it says so with
// kHello first (a connection that says nothing is of revision 1 to the broker), and its bodies are in that
// revision's layout. It has a release socket (revision 4) only once OpenReleaseSocket is called.
class RawConnection {
 public:
  explicit RawConnection(uint32_t revision = protocol::kRevision);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  template <typename T>
  void Send(protocol::Type type, const T& body, int fd = -1) {
    SendBytes(protocol::Encode(type, false, EncodeBodyIn(body, revision_)), fd);
  }
  // The next message, which must be a reply of `type`; `fd` (or else the test) gets its descriptor.
  template <typename T>
  T Receive(protocol::Type type, int* fd = nullptr) {
    T reply{};
    std::string why;
    if (ReceiveBody(type, fd)) {
      EXPECT_TRUE(DecodeBodyIn(body_, &reply, &why, revision_)) << why;
    }
    return reply;
  }

  void SendPublish(const std::string& name, uint32_t flags = protocol::kPublishName,
                   protocol::ObjectKind kind = protocol::ObjectKind::kMemory);
  protocol::PublishReply ReceivePublish() {
    return Receive<protocol::PublishReply>(protocol::Type::kPublish);
  }
  // A new payload under `name` (and a KMT value where `kmt` is given); 0 when refused.
  uint64_t Publish(const std::string& name, uint32_t* kmt = nullptr,
                   protocol::ObjectKind kind = protocol::ObjectKind::kMemory);

  void SendOpen(const std::string& name, protocol::ObjectKind kind = protocol::ObjectKind::kMemory) {
    Send(protocol::Type::kOpen, protocol::OpenRequest{0, name, kind});
  }
  void SendOpen(uint32_t kmt, protocol::ObjectKind kind = protocol::ObjectKind::kMemory) {
    Send(protocol::Type::kOpen, protocol::OpenRequest{kmt, "", kind});
  }
  protocol::OpenReply ReceiveOpen();
  protocol::OpenReply Open(const std::string& name,
                           protocol::ObjectKind kind = protocol::ObjectKind::kMemory) {
    SendOpen(name, kind);
    return ReceiveOpen();
  }

  void ReleaseOneWay(uint64_t payload) {
    Send(protocol::Type::kReleaseOneWay, protocol::PayloadRequest{payload});
  }
  // Without waiting: false when the socket's send buffer is full.
  bool TryReleaseOneWay(uint64_t payload);

  // kReleaseSocket with one end of a new socket pair (or with `fd`, which stays the caller's); on kOk the
  // other end is release_fd(). Returns the broker's answer.
  protocol::Status OpenReleaseSocket();
  protocol::Status OfferReleaseSocket(int fd);
  // A one-way release on the release socket (which must be open); Try: false when it is full.
  void ReleaseOnSocket(uint64_t payload);
  bool TryReleaseOnSocket(uint64_t payload);
  // Any bytes, with descriptors, on the release socket: what a hostile client could send there.
  void SendOnReleaseSocket(const std::vector<uint8_t>& bytes, const std::vector<int>& fds = {});
  void CloseReleaseSocket();
  int release_fd() const { return release_fd_; }

  // kReleaseRing (revision 6); on kOk the ring is mapped here (ReleaseInRing writes it as the client does)
  // and ring_page() is a second mapping of the same page, for writing what a hostile client could.
  protocol::Status OpenReleaseRing();
  ReleaseRing::PushResult ReleaseInRing(uint64_t payload);
  ReleaseRingPage* ring_page() const { return ring_page_; }
  int ring_fd() const { return ring_fd_; }  // the descriptor that came with the reply
  void SendRaw(const std::vector<uint8_t>& bytes, int fd = -1) { SendBytes(bytes, fd); }
  void SendDoorbell() { SendBytes(protocol::Encode(protocol::Type::kRingDoorbell, false, {}), -1); }

  void SendStatus();
  std::vector<protocol::StatusEntry> ReceiveStatus();
  std::vector<protocol::StatusEntry> Status() {
    SendStatus();
    return ReceiveStatus();
  }

  // Whether the broker closed this connection (waiting up to `timeout_ms` for it to do so).
  bool ClosedByBroker(int timeout_ms = 5000);
  int fd() const { return fd_; }
  uint32_t revision() const { return revision_; }
  // The body of the last reply received, as it came.
  const std::vector<uint8_t>& last_body() const { return body_; }

 private:
  void SendBytes(const std::vector<uint8_t>& bytes, int fd);
  // The next message into body_; false (after a failure of the test) when it is not a reply of `type`.
  bool ReceiveBody(protocol::Type type, int* fd);

  int fd_ = -1;
  int release_fd_ = -1;
  int ring_fd_ = -1;
  std::unique_ptr<ReleaseRing> ring_;
  ReleaseRingPage* ring_page_ = nullptr;
  uint32_t revision_;
  std::vector<uint8_t> body_;
};

// A broker in a thread of the test, at a socket of its own: `answer` gets each message of a connection,
// decoded, with the descriptors that came with it (which it then owns), and sends what it likes on
// `connection`; false closes the connection.
class FakeBroker {
 public:
  using Answer = std::function<bool(int connection, const protocol::Message& message, std::vector<int>& fds)>;
  explicit FakeBroker(Answer answer);
  ~FakeBroker();
  FakeBroker(const FakeBroker&) = delete;
  FakeBroker& operator=(const FakeBroker&) = delete;
  std::string path;
  // The type of every message it got, in order.
  std::vector<uint16_t> Types();

 private:
  void Run();
  Answer answer_;
  std::string folder_;
  int listener_ = -1;
  std::mutex mutex_;
  std::vector<uint16_t> types_;
  std::thread thread_;
};

// Sends `bytes` with any number of descriptors (SCM_RIGHTS), as no well-behaved client would.
bool SendWithFds(int socket, const std::vector<uint8_t>& bytes, const std::vector<int>& fds);

// Descriptors open in process `pid`.
int FdCount(pid_t pid);
// How often process `pid` went to sleep (voluntary context switches), -1 when unknown.
long VoluntarySwitches(pid_t pid);
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
