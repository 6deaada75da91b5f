#include "broker_fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "broker_client.hpp"
#include "broker_launch.hpp"
#include "wire.hpp"

extern char** environ;

namespace ntbridge::test {

ChildProcess::ChildProcess(const std::vector<std::string>& args, const std::vector<std::string>& env,
                           const std::string& program) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> all = {program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) vars.push_back(*e);
  for (const auto& change : env) {
    std::string name = change.substr(0, change.find('='));
    std::erase_if(vars, [&](const std::string& v) { return v.compare(0, name.size() + 1, name + "=") == 0; });
    if (change.find('=') != std::string::npos) vars.push_back(change);
  }
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  in_ = in[1];
  out_ = out[0];
}

ChildProcess::~ChildProcess() {
  CloseInput();
  if (pid_ > 0 && status_ < 0) {
    kill(pid_, SIGKILL);
    Wait();
  }
  if (out_ >= 0) close(out_);
}

std::string ChildProcess::ReadLine(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_ < 0) return {};
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[256];
    ssize_t n = read(out_, chunk, sizeof chunk);
    if (n <= 0) return {};
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::string ChildProcess::Expect(const std::string& prefix, int timeout_ms) {
  for (;;) {
    std::string line = ReadLine(timeout_ms);
    if (line.empty() || line.rfind(prefix, 0) == 0) return line;
  }
}

void ChildProcess::CloseInput() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

void ChildProcess::Send(const std::string& line) {
  std::string l = line + "\n";
  if (in_ >= 0 && write(in_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) CloseInput();
}

void ChildProcess::Kill(int signal) {
  if (pid_ > 0 && status_ < 0) kill(pid_, signal);
}

int ChildProcess::Wait() {
  if (status_ >= 0 || pid_ <= 0) return status_;
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return -1;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  return status_;
}

BrokerFolder::BrokerFolder() {
  char pattern[] = "/tmp/ntbt-XXXXXX";
  root = mkdtemp(pattern);
  folder = root + "/broker";
  socket = folder + "/broker.sock";
  setenv("VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET", socket.c_str(), 1);
  setenv("NTBRIDGE_BROKER_LOG", "info", 1);
}

BrokerFolder::~BrokerFolder() {
  StopBroker();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

bool BrokerFolder::Status(std::vector<protocol::StatusEntry>* entries, protocol::StatusReply* reply) {
  BrokerClient client;
  client.SetOptions({socket, "", false});
  std::string error;
  return client.Status(entries, reply, &error);
}

pid_t BrokerFolder::BrokerPid() {
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply reply;
  return Status(&entries, &reply) ? static_cast<pid_t>(reply.broker_pid) : 0;
}

// The pid file, not a status request: a request's own connection would be counted while the broker has not
// yet seen it close.
pid_t BrokerFolder::PidFromFile() {
  pid_t pid = 0;
  std::ifstream(folder + "/broker.pid") >> pid;
  std::string comm;
  std::ifstream("/proc/" + std::to_string(pid) + "/comm") >> comm;
  return pid > 0 && ProcessAlive(pid) && comm == "ntbridged" ? pid : 0;
}

int BrokerFolder::BrokerFdCount() {
  pid_t pid = PidFromFile();
  return pid > 0 ? FdCount(pid) : -1;
}

int BrokerFolder::BrokerFdCountSettled(int expected) {
  // A broker started with --daemonize listens (and so answers) before its forked child writes broker.pid.
  pid_t pid = PidFromFile();
  for (int i = 0; i < 300 && pid <= 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    pid = PidFromFile();
  }
  if (pid <= 0) return -1;
  int n = FdCount(pid);
  for (int i = 0; i < 300 && n != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = FdCount(pid);
  }
  return n;
}

void BrokerFolder::StopBroker(int signal) {
  pid_t pid = BrokerPid();
  if (pid <= 0) {
    // It may not answer (stopped with SIGSTOP, busy): the pid file still names it.
    std::ifstream in(folder + "/broker.pid");
    in >> pid;
  }
  if (pid <= 0 || !ProcessAlive(pid)) return;
  kill(pid, signal);
  for (int i = 0; i < 500 && ProcessAlive(pid); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (ProcessAlive(pid)) kill(pid, SIGKILL);
  for (int i = 0; i < 500 && ProcessAlive(pid); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

std::string BrokerFolder::Log() {
  std::ifstream in(folder + "/broker.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

FrozenBroker::FrozenBroker() {
  pid_t pid = Broker().PidFromFile();
  if (pid <= 0 || kill(pid, SIGSTOP) != 0) return;
  pid_ = pid;
  // Stopped once /proc says so ('T'); only then is nothing sent from here on taken before SIGCONT.
  for (int i = 0; i < 500; ++i) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_text, comm, state;
    in >> pid_text >> comm >> state;
    if (state == "T" || state == "t") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ADD_FAILURE() << "the broker (pid " << pid << ") did not stop";
}

FrozenBroker::~FrozenBroker() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

BrokerFolder& Broker() {
  static BrokerFolder folder;
  return folder;
}

RawConnection::RawConnection(uint32_t revision) : revision_(revision) {
  std::string error;
  fd_ = ConnectOrStartBroker(Broker().socket, NTBRIDGE_BROKER_PROGRAM, &error);
  EXPECT_GE(fd_, 0) << error;
  timeval timeout{10, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (revision_ >= 2) {
    Send(protocol::Type::kHello, protocol::HelloRequest{revision_});
    EXPECT_EQ(Receive<protocol::HelloReply>(protocol::Type::kHello).revision, protocol::kRevision);
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
  if (release_fd_ >= 0) close(release_fd_);
  if (ring_page_ != nullptr) munmap(ring_page_, kReleaseRingBytes);
  if (ring_fd_ >= 0) close(ring_fd_);
}

protocol::Status RawConnection::OpenReleaseRing() {
  SendBytes(protocol::Encode(protocol::Type::kReleaseRing, false, {}), -1);
  int fd = -1;
  protocol::Status status = Receive<protocol::StatusCodeReply>(protocol::Type::kReleaseRing, &fd).status;
  EXPECT_EQ(status == protocol::Status::kOk, fd >= 0) << "a ring's descriptor comes with kOk, and only then";
  if (fd < 0) return status;
  std::string error;
  ring_ = ReleaseRing::Map(fd, &error);
  EXPECT_NE(ring_, nullptr) << error;
  void* page = mmap(nullptr, kReleaseRingBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  EXPECT_NE(page, MAP_FAILED) << std::strerror(errno);
  if (page != MAP_FAILED) ring_page_ = static_cast<ReleaseRingPage*>(page);
  ring_fd_ = fd;
  return status;
}

ReleaseRing::PushResult RawConnection::ReleaseInRing(uint64_t payload) {
  EXPECT_NE(ring_, nullptr) << "no release ring";
  return ring_ != nullptr ? ring_->Push(payload) : ReleaseRing::PushResult::kFull;
}

protocol::Status RawConnection::OfferReleaseSocket(int fd) {
  SendBytes(protocol::Encode(protocol::Type::kReleaseSocket, false, {}), fd);
  return Receive<protocol::StatusCodeReply>(protocol::Type::kReleaseSocket).status;
}

protocol::Status RawConnection::OpenReleaseSocket() {
  int pair[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  protocol::Status status = OfferReleaseSocket(pair[1]);
  close(pair[1]);
  if (status == protocol::Status::kOk) {
    CloseReleaseSocket();
    release_fd_ = pair[0];
  } else {
    close(pair[0]);
  }
  return status;
}

void RawConnection::ReleaseOnSocket(uint64_t payload) {
  EXPECT_GE(release_fd_, 0) << "no release socket";
  EXPECT_TRUE(SendPacket(release_fd_, protocol::EncodeMessage(protocol::Type::kReleaseOneWay, false,
                                                              protocol::PayloadRequest{payload})))
      << std::strerror(errno);
}

bool RawConnection::TryReleaseOnSocket(uint64_t payload) {
  std::vector<uint8_t> bytes =
      protocol::EncodeMessage(protocol::Type::kReleaseOneWay, false, protocol::PayloadRequest{payload});
  return send(release_fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

void RawConnection::SendOnReleaseSocket(const std::vector<uint8_t>& bytes, const std::vector<int>& fds) {
  EXPECT_TRUE(SendWithFds(release_fd_, bytes, fds)) << std::strerror(errno);
}

void RawConnection::CloseReleaseSocket() {
  if (release_fd_ >= 0) close(release_fd_);
  release_fd_ = -1;
}

void RawConnection::SendBytes(const std::vector<uint8_t>& bytes, int fd) {
  EXPECT_TRUE(SendPacket(fd_, bytes, fd)) << std::strerror(errno);
}

bool RawConnection::ReceiveBody(protocol::Type type, int* fd) {
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  std::string why;
  body_.clear();
  EXPECT_EQ(ReceivePacket(fd_, &bytes, &fds, &why), ReceiveResult::kOk) << why;
  auto message = protocol::DecodeMessage(bytes, &why);
  bool ok = false;
  if (!message) {
    ADD_FAILURE() << "no message: " << why;
  } else if (message->header.type != (static_cast<uint16_t>(type) | protocol::kReplyBit)) {
    ADD_FAILURE() << "a reply of type " << (message->header.type & ~protocol::kReplyBit) << " came, expected "
                  << static_cast<int>(type);
  } else {
    body_.assign(message->body.begin(), message->body.end());
    ok = true;
  }
  if (fd != nullptr && !fds.empty()) {
    *fd = fds[0];
    fds.erase(fds.begin());
  }
  CloseAll(&fds);
  return ok;
}

void RawConnection::SendPublish(const std::string& name, uint32_t flags, protocol::ObjectKind kind) {
  int memfd = memfd_create("raw", MFD_CLOEXEC);
  protocol::PublishRequest request{flags, {}, name};
  request.info.object_kind = kind;
  Send(protocol::Type::kPublish, request, memfd);
  close(memfd);
}

uint64_t RawConnection::Publish(const std::string& name, uint32_t* kmt, protocol::ObjectKind kind) {
  SendPublish(name, protocol::kPublishName | (kmt != nullptr ? protocol::kPublishKmt : 0), kind);
  protocol::PublishReply reply = ReceivePublish();
  EXPECT_EQ(reply.status, protocol::Status::kOk) << name;
  if (kmt != nullptr) *kmt = reply.kmt;
  return reply.status == protocol::Status::kOk ? reply.payload : 0;
}

protocol::OpenReply RawConnection::ReceiveOpen() {
  int fd = -1;
  protocol::OpenReply reply = Receive<protocol::OpenReply>(protocol::Type::kOpen, &fd);
  EXPECT_EQ(reply.status == protocol::Status::kOk, fd >= 0) << "the reply and its descriptor disagree";
  if (fd >= 0 && revision_ >= protocol::kRevisionPayloadFile) {
    // What the broker says of the file (revision 5) is what the kernel says of the descriptor it sent.
    struct stat st {};
    EXPECT_EQ(fstat(fd, &st), 0);
    const protocol::PayloadFile kernel{st.st_dev, st.st_ino, st.st_rdev, st.st_mode,
                                       static_cast<uint64_t>(st.st_size)};
    EXPECT_EQ(reply.file, kernel) << "the open reply's PayloadFile is not the descriptor's file";
  } else {
    EXPECT_EQ(reply.file, protocol::PayloadFile{}) << "a reply of revision " << revision_ << " has no file";
  }
  if (fd >= 0) close(fd);
  return reply;
}

bool RawConnection::TryReleaseOneWay(uint64_t payload) {
  std::vector<uint8_t> bytes =
      protocol::EncodeMessage(protocol::Type::kReleaseOneWay, false, protocol::PayloadRequest{payload});
  return send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

void RawConnection::SendStatus() {
  EXPECT_TRUE(SendPacket(fd_, protocol::Encode(protocol::Type::kStatus, false, {})));
}

std::vector<protocol::StatusEntry> RawConnection::ReceiveStatus() {
  std::vector<protocol::StatusEntry> entries;
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint8_t> bytes;
    std::vector<int> fds;
    std::string why;
    if (ReceivePacket(fd_, &bytes, &fds, &why) != ReceiveResult::kOk) {
      ADD_FAILURE() << "the status answer broke off: " << why;
      break;
    }
    CloseAll(&fds);
    auto message = protocol::DecodeMessage(bytes, &why);
    if (message && message->header.type == (uint16_t(protocol::Type::kStatusEntry) | protocol::kReplyBit)) {
      body_.assign(message->body.begin(), message->body.end());
      protocol::StatusEntry e;
      EXPECT_TRUE(protocol::DecodeBody(message->body, &e, &why, revision_)) << why;
      entries.push_back(e);
    } else if (message && message->header.type == (uint16_t(protocol::Type::kStatus) | protocol::kReplyBit)) {
      return entries;
    } else {
      ADD_FAILURE() << "not a status answer: type " << (message ? message->header.type : 0) << " " << why;
      break;
    }
  }
  return entries;
}

bool RawConnection::ClosedByBroker(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char byte;
  return recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

FakeBroker::FakeBroker(Answer answer) : answer_(std::move(answer)) {
  char pattern[] = "/tmp/ntbfake-XXXXXX";
  folder_ = mkdtemp(pattern);
  path = folder_ + "/broker.sock";
  listener_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(listen(listener_, 4), 0);
  thread_ = std::thread([this] { Run(); });
}

FakeBroker::~FakeBroker() {
  shutdown(listener_, SHUT_RDWR);
  thread_.join();
  close(listener_);
  std::error_code ec;
  std::filesystem::remove_all(folder_, ec);
}

std::vector<uint16_t> FakeBroker::Types() {
  std::lock_guard lock(mutex_);
  return types_;
}

void FakeBroker::Run() {
  for (;;) {
    int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    for (;;) {
      std::vector<uint8_t> bytes;
      std::vector<int> fds;
      std::string why;
      if (ReceivePacket(c, &bytes, &fds, &why) != ReceiveResult::kOk) break;
      auto message = protocol::DecodeMessage(bytes, &why);
      if (message) {
        std::lock_guard lock(mutex_);
        types_.push_back(message->header.type);
      }
      const bool go_on = message && answer_(c, *message, fds);
      CloseAll(&fds);
      if (!go_on) break;
    }
    close(c);
  }
}

bool SendWithFds(int socket, const std::vector<uint8_t>& bytes, const std::vector<int>& fds) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return sendmsg(socket, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

long VoluntarySwitches(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
  }
  return -1;
}

int FdCount(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

bool ProcessAlive(pid_t pid) {
  // The broker is not our child (it daemonizes), so a zombie cannot linger: kill(0) is enough; a zombie
  // child of ours would show as 'Z' in /proc/<pid>/stat.
  if (kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_text, comm, state;
  in >> pid_text >> comm >> state;
  return state != "Z";
}

void BrokerTest::SetUp() {
  Broker();  // the folder and its environment exist before the instance reads its settings
  LayerTest::SetUp();
}

void BrokerTest::TearDown() {
  LayerTest::TearDown();
  Broker().StopBroker();
}

std::vector<Message> BrokerTest::TakeMessages(const std::string& id) {
  std::vector<Message> taken;
  for (auto& m : vk->monitor.Take()) {
    if (m.id == id) {
      taken.push_back(std::move(m));
    } else {
      vk->monitor.Add(std::move(m));
    }
  }
  return taken;
}

VkDeviceMemory BrokerTest::ExportNamed(const std::wstring& name, VkDeviceSize size, VkResult* result) {
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, name.c_str()};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt | kKmt};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r = dev->Allocate(size, dev->HostVisibleType(), &export_info, &memory);
  if (result != nullptr) {
    *result = r;
  } else {
    EXPECT_EQ(r, VK_SUCCESS) << "vkAllocateMemory (export by name)";
  }
  return r == VK_SUCCESS ? memory : VK_NULL_HANDLE;
}

uint32_t BrokerTest::Kmt(VkDeviceMemory memory) {
  HANDLE h = dev->GetHandle(memory, kKmt);
  return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(h));
}

std::string HandleText(HANDLE h) { return std::to_string(reinterpret_cast<uintptr_t>(h)); }
HANDLE KmtHandle(uint32_t value) { return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(value)); }

}  // namespace ntbridge::test
