// The other processes of the broker tests, started with exec. It talks on stdout, one line at a time, and
// waits for its stdin to close before it frees what it made (so a test can kill it while it holds memory).
//
//   [--as-uid UID] export <name|-> <size> <value> [kmt]   export (named unless "-"), write value at offset 0,
//                                                         print "KMT <value>" (with kmt), then "READY"; after
//                                                         stdin closes print "SEEN <u32 at offset 4>" and
//                                                         free
//   [--as-uid UID] import-name <name> <size> <expect> <write>
//   [--as-uid UID] import-kmt <value> <size> <expect> <write>
//                                                         import, check the u32 at 0, write at 4, print
//                                                         "IMPORTED", wait for stdin to close, free
//   [--as-uid UID] raw-status <socket>                    connect without the layer and ask for the status
//   connect <socket>                                      connect as the layer does (starting the broker when
//                                                         none answers) and print "PID <broker pid>"
//   load <index> <seconds> <peer-index>                   the load test's worker (see Load below)
//   open-burst <name> <kmt> <size> <expect> <count>       make a device, print "READY", wait for a line
//                                                         on stdin, then open the payload `count` times,
//                                                         by name and by KMT value in turn (import, check
//                                                         the u32 at 0, free), and print "DONE <failed
//                                                         opens> <last failure's VkResult> <imports the
//                                                         driver refused first>"
//   serve                                                 connect to the broker (an open of a name nobody
//                                                         has), print "READY", then answer each line of
//                                                         stdin with "OPENING" and "RESULT <VkResult>":
//                                                         "open-name <name> <size>" and
//                                                         "open-kmt <value> <size>" import (then free),
//                                                         "export-name <name> <size>" exports (then frees),
//                                                         each freed before its RESULT
//
// Exit status: 0 done, 2 Vulkan call failed ("RESULT <VkResult>" printed), 3 wrong data or messages,
// 4 no device, 5 bad use, 6 (raw-status) connection closed without an answer, 7 cannot connect.
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "broker_client.hpp"
#include "broker_launch.hpp"
#include "protocol.hpp"
#include "vk_fixture.hpp"
#include "wire.hpp"

namespace {

using ntbridge::test::VulkanDevice;
using ntbridge::test::VulkanInstance;

constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
constexpr auto kKmt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT;

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void WaitForStdinClose() {
  char buffer[64];
  while (read(0, buffer, sizeof buffer) > 0) {
  }
}

std::wstring Wide(const std::string& s) { return std::wstring(s.begin(), s.end()); }

uint64_t Number(const char* s) { return std::strtoull(s, nullptr, 0); }

int ReportProblems(VulkanInstance& vk) {
  auto problems = vk.monitor.Problems();
  if (problems.empty()) return 0;
  std::fprintf(stderr, "child: messages:%s\n", ntbridge::test::Describe(problems).c_str());
  return 3;
}

int Export(const std::string& name, VkDeviceSize size, uint32_t value, bool kmt) {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  std::wstring wide = Wide(name);
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, 0, name == "-" ? nullptr : wide.c_str()};
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt | kKmt};
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkResult r = dev.Allocate(size, dev.HostVisibleType(), &export_info, &memory);
  if (r != VK_SUCCESS) {
    Say("RESULT " + std::to_string(r));
    return 2;
  }
  dev.WriteU32(memory, value);
  dev.WriteU32(memory, 0, 4);
  if (kmt) {
    HANDLE h = dev.GetHandle(memory, kKmt, &r);
    if (r != VK_SUCCESS) {
      Say("RESULT " + std::to_string(r));
      return 2;
    }
    Say("KMT " + std::to_string(reinterpret_cast<uintptr_t>(h)));
  }
  Say("READY");
  WaitForStdinClose();
  Say("SEEN " + std::to_string(dev.ReadU32(memory, 4)));
  dev.Free(memory);
  return ReportProblems(vk);
}

int Import(HANDLE handle, const std::string& name, VkDeviceSize size, uint32_t expect, uint32_t write) {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  std::wstring wide = Wide(name);
  VkResult r = VK_SUCCESS;
  VkDeviceMemory memory = dev.ImportHandle(size, handle != nullptr ? kKmt : kNt, handle,
                                           handle != nullptr ? nullptr : wide.c_str(), &r);
  if (r != VK_SUCCESS) {
    Say("RESULT " + std::to_string(r));
    for (const auto& m : vk.monitor.Take())
      std::fprintf(stderr, "child: [%s] %s\n", m.id.c_str(), m.text.c_str());
    return 2;
  }
  uint32_t got = dev.ReadU32(memory, 0);
  if (got != expect) {
    std::fprintf(stderr, "child: read 0x%x, expected 0x%x\n", got, expect);
    dev.Free(memory);
    return 3;
  }
  dev.WriteU32(memory, write, 4);
  Say("IMPORTED");
  WaitForStdinClose();
  dev.Free(memory);
  return ReportProblems(vk);
}

int RawStatus(const std::string& socket) {
  // A plain connect, without ConnectTo's own check of the broker's uid: the broker's check is under test.
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Say(std::string("CONNECT ") + std::strerror(errno));
    return 7;
  }
  auto request = ntbridge::protocol::Encode(ntbridge::protocol::Type::kStatus, false, {});
  if (!ntbridge::SendPacket(fd, request)) return 6;
  std::vector<uint8_t> bytes;
  std::vector<int> fds;
  std::string error;
  auto r = ntbridge::ReceivePacket(fd, &bytes, &fds, &error);
  ntbridge::CloseAll(&fds);
  close(fd);
  return r == ntbridge::ReceiveResult::kOk && !bytes.empty() ? 0 : 6;
}

// Connects (starting the broker when none answers, as the layer does) and prints the broker's pid.
int ConnectAndSayPid(const std::string& socket) {
  std::string error;
  int fd = ntbridge::ConnectOrStartBroker(socket, "", &error);
  if (fd < 0) {
    Say("ERROR " + error);
    return 7;
  }
  close(fd);
  ntbridge::BrokerClient client;
  client.SetOptions({socket, "", false});
  std::vector<ntbridge::protocol::StatusEntry> entries;
  ntbridge::protocol::StatusReply reply;
  if (!client.Status(&entries, &reply, &error)) {
    Say("ERROR " + error);
    return 6;
  }
  Say("PID " + std::to_string(reply.broker_pid));
  return 0;
}

int CountFds() { return ntbridge::test::CountOpenFds(); }

// The load worker. Exports its anchor "Local\anchor-<index>" (value 0xA000 + index) with a KMT value and
// prints "ANCHOR <kmt>"; reads the peer's anchor KMT value from stdin; then for `seconds` repeatedly exports
// a fresh memory object by name and KMT, imports it back both ways, imports the peer's anchor by name and by
// KMT and checks every value. Prints "DONE <iterations> FDS <before> <after>" and keeps its anchor until
// stdin closes (peers may still be importing it).
int Load(int index, int seconds, int peer) {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  constexpr VkDeviceSize kSize = 65536;
  auto fail = [&](const char* what, VkResult r) {
    Say(std::string("FAIL ") + what + " " + std::to_string(r));
    for (const auto& m : vk.monitor.Take()) {
      std::fprintf(stderr, "child %d: [%s] %s\n", index, m.id.c_str(), m.text.c_str());
    }
    return 2;
  };
  auto export_named = [&](const std::wstring& name, VkDeviceMemory* memory) {
    VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                           nullptr, 0, name.c_str()};
    VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt | kKmt};
    return dev.Allocate(kSize, dev.HostVisibleType(), &info, memory);
  };
  VkDeviceMemory anchor = VK_NULL_HANDLE;
  VkResult r = export_named(Wide("Local\\anchor-" + std::to_string(index)), &anchor);
  if (r != VK_SUCCESS) return fail("anchor", r);
  dev.WriteU32(anchor, 0xA000u + static_cast<uint32_t>(index));
  HANDLE anchor_kmt = dev.GetHandle(anchor, kKmt, &r);
  if (r != VK_SUCCESS) return fail("anchor kmt", r);
  Say("ANCHOR " + std::to_string(reinterpret_cast<uintptr_t>(anchor_kmt)));
  char line[64] = {};
  if (std::fgets(line, sizeof line, stdin) == nullptr) return 5;
  auto peer_kmt = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(Number(line)));
  const uint32_t peer_value = 0xA000u + static_cast<uint32_t>(peer);
  const std::wstring peer_name = Wide("Local\\anchor-" + std::to_string(peer));

  int before = CountFds();
  auto start = std::chrono::steady_clock::now();
  long iterations = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(seconds)) {
    std::wstring name = Wide("Local\\load-" + std::to_string(index) + "-" + std::to_string(iterations));
    VkDeviceMemory mine = VK_NULL_HANDLE;
    r = export_named(name, &mine);
    if (r != VK_SUCCESS) return fail("export", r);
    dev.WriteU32(mine, static_cast<uint32_t>(iterations));
    HANDLE kmt = dev.GetHandle(mine, kKmt, &r);
    if (r != VK_SUCCESS) return fail("kmt", r);
    VkDeviceMemory by_name = dev.ImportHandle(kSize, kNt, nullptr, name.c_str(), &r);
    if (r != VK_SUCCESS) return fail("import own name", r);
    VkDeviceMemory by_kmt = dev.ImportHandle(kSize, kKmt, kmt, nullptr, &r);
    if (r != VK_SUCCESS) return fail("import own kmt", r);
    VkDeviceMemory peer1 = dev.ImportHandle(kSize, kNt, nullptr, peer_name.c_str(), &r);
    if (r != VK_SUCCESS) return fail("import peer name", r);
    VkDeviceMemory peer2 = dev.ImportHandle(kSize, kKmt, peer_kmt, nullptr, &r);
    if (r != VK_SUCCESS) return fail("import peer kmt", r);
    bool same = dev.ReadU32(by_name) == static_cast<uint32_t>(iterations) &&
                dev.ReadU32(by_kmt) == static_cast<uint32_t>(iterations) &&
                dev.ReadU32(peer1) == peer_value && dev.ReadU32(peer2) == peer_value;
    for (VkDeviceMemory m : {peer2, peer1, by_kmt, mine, by_name}) dev.Free(m);
    if (!same) {
      Say("FAIL data");
      return 3;
    }
    ++iterations;
  }
  int after = CountFds();
  Say("DONE " + std::to_string(iterations) + " FDS " + std::to_string(before) + " " + std::to_string(after));
  WaitForStdinClose();
  dev.Free(anchor);
  if (after != before) return 3;
  return ReportProblems(vk);
}

// A worker of the many-processes-at-once load test (OpenBurst below): every worker opens the same payload,
// and all start at once, so that their imports overlap.
int OpenBurst(const std::string& name, HANDLE kmt, VkDeviceSize size, uint32_t expect, int count) {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  const std::wstring wide = Wide(name);
  Say("READY");
  char line[16];
  if (std::fgets(line, sizeof line, stdin) == nullptr) return 5;
  int failures = 0;
  VkResult last = VK_SUCCESS;
  for (int i = 0; i < count; ++i) {
    VkResult r = VK_SUCCESS;
    const bool by_name = i % 2 == 0;
    VkDeviceMemory memory = dev.ImportHandle(size, by_name ? kNt : kKmt, by_name ? nullptr : kmt,
                                             by_name ? wide.c_str() : nullptr, &r);
    if (r == VK_SUCCESS && dev.ReadU32(memory, 0) != expect) r = VK_ERROR_UNKNOWN;
    if (memory != VK_NULL_HANDLE) dev.Free(memory);
    if (r != VK_SUCCESS) {
      ++failures;
      last = r;
    }
  }
  // lavapipe reports each import it refused; the layer retried those (with an open file description of its
  // own), so they are counted, not problems.
  int refused = 0;
  std::vector<ntbridge::test::Message> problems;
  for (auto& m : vk.monitor.Problems()) {
    const std::string said = m.id + " " + m.text;  // Mesa's file and line are the id
    if (said.find("lvp_device.c") != std::string::npos &&
        said.find("VK_ERROR_INVALID_EXTERNAL_HANDLE") != std::string::npos) {
      ++refused;
    } else {
      problems.push_back(std::move(m));
    }
  }
  Say("DONE " + std::to_string(failures) + " " + std::to_string(last) + " " + std::to_string(refused));
  if (!problems.empty())
    std::fprintf(stderr, "child: messages:%s\n", ntbridge::test::Describe(problems).c_str());
  if (failures != 0) return 2;
  return problems.empty() ? 0 : 3;
}

// The other process of the release tests: opens or exports whatever the test names, once per line, so that
// the test can time each attempt against its own vkFreeMemory.
int Serve() {
  VulkanInstance vk;
  if (!vk.ok()) return 4;
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  VkResult r = VK_SUCCESS;
  dev.ImportHandle(4096, kNt, nullptr, L"Local\\ntbridge-test-nobody", &r);  // connects; refused
  if (r != VK_ERROR_INVALID_EXTERNAL_HANDLE) return 3;
  Say("READY");
  char line[512];
  while (std::fgets(line, sizeof line, stdin) != nullptr) {
    char command[32] = {}, target[400] = {};
    unsigned long long size = 0;
    if (std::sscanf(line, "%31s %399s %llu", command, target, &size) != 3) return 5;
    std::string what = command;
    std::wstring name = Wide(target);
    VkDeviceMemory memory = VK_NULL_HANDLE;
    Say("OPENING");
    if (what == "open-name") {
      memory = dev.ImportHandle(size, kNt, nullptr, name.c_str(), &r);
    } else if (what == "open-kmt") {
      memory = dev.ImportHandle(size, kKmt, reinterpret_cast<HANDLE>(static_cast<uintptr_t>(Number(target))),
                                nullptr, &r);
    } else if (what == "export-name") {
      VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                             nullptr, 0, name.c_str()};
      VkExportMemoryAllocateInfo info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32, kNt};
      r = dev.Allocate(size, dev.HostVisibleType(), &info, &memory);
    } else {
      return 5;
    }
    if (r == VK_SUCCESS) dev.Free(memory);  // before answering: the test counts on the free being done
    Say("RESULT " + std::to_string(r));
  }
  vk.monitor.Clear();  // the refused opens' warnings are the expected answers
  return 0;
}

bool DropPrivileges(uid_t uid) {
  if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) return false;
  unsetenv("XDG_RUNTIME_DIR");
  setenv("MESA_SHADER_CACHE_DISABLE", "true", 1);
  setenv("HOME", "/tmp", 1);
  return getuid() == uid && geteuid() == uid;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() >= 2 && a[0] == "--as-uid") {
    if (!DropPrivileges(static_cast<uid_t>(std::atoi(a[1].c_str())))) {
      Say("SETUID failed");
      return 5;
    }
    a.erase(a.begin(), a.begin() + 2);
  }
  std::string mode = a.empty() ? "" : a[0];
  if (mode == "export" && (a.size() == 4 || a.size() == 5)) {
    return Export(a[1], Number(a[2].c_str()), static_cast<uint32_t>(Number(a[3].c_str())),
                  a.size() == 5 && a[4] == "kmt");
  }
  if (mode == "import-name" && a.size() == 5) {
    return Import(nullptr, a[1], Number(a[2].c_str()), static_cast<uint32_t>(Number(a[3].c_str())),
                  static_cast<uint32_t>(Number(a[4].c_str())));
  }
  if (mode == "import-kmt" && a.size() == 5) {
    auto handle = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(Number(a[1].c_str())));
    if (handle == nullptr) return 5;
    return Import(handle, "", Number(a[2].c_str()), static_cast<uint32_t>(Number(a[3].c_str())),
                  static_cast<uint32_t>(Number(a[4].c_str())));
  }
  if (mode == "raw-status" && a.size() == 2) return RawStatus(a[1]);
  if (mode == "connect" && a.size() == 2) return ConnectAndSayPid(a[1]);
  if (mode == "load" && a.size() == 4) {
    return Load(std::atoi(a[1].c_str()), std::atoi(a[2].c_str()), std::atoi(a[3].c_str()));
  }
  if (mode == "serve" && a.size() == 1) return Serve();
  if (mode == "open-burst" && a.size() == 6) {
    return OpenBurst(a[1], reinterpret_cast<HANDLE>(static_cast<uintptr_t>(Number(a[2].c_str()))),
                     Number(a[3].c_str()), static_cast<uint32_t>(Number(a[4].c_str())),
                     std::atoi(a[5].c_str()));
  }
  std::fprintf(stderr, "broker_child: bad arguments\n");
  return 5;
}
