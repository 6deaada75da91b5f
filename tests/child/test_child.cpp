// The other process of the cross-process tests: imports memory the test process shared, checks it, writes
// back.
//
//   ntbridge_test_child import <handle> <size> <expect> <reply>   import an inherited NT handle by its value
//   ntbridge_test_child socket <fd>                                receive the handle over a Unix socket
//   ntbridge_test_child return <fd>                                receive a descriptor over a Unix socket
//   and
//                                                                  send it back (the test's handle comes back
//                                                                  as a new descriptor of the same open file
//                                                                  description)
//
// Exit status: 0 done, 2 import failed, 3 data differs, 4 no Vulkan device, 5 socket failure.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "process.hpp"
#include "vk_fixture.hpp"

namespace {

using ntbridge::test::VulkanDevice;
using ntbridge::test::VulkanInstance;

struct Request {
  uint64_t size;
  uint32_t expect;
  uint32_t reply;
};

int ImportCheckReply(HANDLE handle, const Request& req) {
  VulkanInstance vk;
  if (!vk.ok()) {
    std::fprintf(stderr, "child: %s\n", vk.error.c_str());
    return 4;
  }
  VulkanDevice dev(vk);
  if (dev.create_result != VK_SUCCESS) return 4;
  VkResult r = VK_SUCCESS;
  VkDeviceMemory memory =
      dev.ImportHandle(req.size, VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, handle, nullptr, &r);
  if (r != VK_SUCCESS) {
    std::fprintf(stderr, "child: import of handle %p failed: %d\n", handle, r);
    return 2;
  }
  uint32_t got = dev.ReadU32(memory, 0);
  if (got != req.expect) {
    std::fprintf(stderr, "child: read 0x%x, expected 0x%x\n", got, req.expect);
    dev.Free(memory);
    return 3;
  }
  dev.WriteU32(memory, req.reply, 4);
  dev.Free(memory);
  auto problems = vk.monitor.Problems();
  if (!problems.empty()) {
    std::fprintf(stderr, "child: messages:%s\n", ntbridge::test::Describe(problems).c_str());
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "import" && argc == 6) {
    auto handle = reinterpret_cast<HANDLE>(static_cast<intptr_t>(std::strtoll(argv[2], nullptr, 0)));
    Request req{std::strtoull(argv[3], nullptr, 0), static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 0)),
                static_cast<uint32_t>(std::strtoul(argv[5], nullptr, 0))};
    return ImportCheckReply(handle, req);
  }
  if (mode == "socket" && argc == 3) {
    int sock = std::atoi(argv[2]);
    int fd = -1;
    Request req{};
    if (!ntbridge::test::ReceiveFd(sock, &fd, &req, sizeof req) || fd < 0) return 5;
    int status = ImportCheckReply(reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd)), req);
    close(fd);  // the application closes its NT handle itself (CloseHandle)
    char ack = static_cast<char>(status);
    if (write(sock, &ack, 1) != 1) return 5;
    return status;
  }
  if (mode == "return" && argc == 3) {
    int sock = std::atoi(argv[2]);
    int fd = -1;
    char byte = 0;
    if (!ntbridge::test::ReceiveFd(sock, &fd, &byte, 1) || fd < 0) return 5;
    const bool sent = ntbridge::test::SendFd(sock, fd, &byte, 1);
    close(fd);
    return sent ? 0 : 5;
  }
  std::fprintf(stderr, "usage: %s import <handle> <size> <expect> <reply> | socket <fd> | return <fd>\n",
               argv[0]);
  return 64;
}
