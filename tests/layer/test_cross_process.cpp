// NT handles between processes: inherited across exec, and passed over a Unix socket.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "process.hpp"
#include "vk_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;
constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;

int Fd(HANDLE h) { return static_cast<int>(reinterpret_cast<intptr_t>(h)); }

class CrossProcess : public LayerTest {};

TEST_F(CrossProcess, InheritedHandleImportedByValueInExecedChild) {
  SECURITY_ATTRIBUTES sa{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr, &sa,
                                         0, nullptr};
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt, &win32);
  dev->WriteU32(memory, 0x51DE0001);
  HANDLE handle = dev->GetHandle(memory, kNt);
  Child child =
      StartChild({"import", std::to_string(Fd(handle)), std::to_string(kSize), "0x51DE0001", "0x0CAFE"});
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(dev->ReadU32(memory, 4), 0x0CAFEu) << "the child's write is not visible";
  close(Fd(handle));
  dev->Free(memory);
}

TEST_F(CrossProcess, NonInheritableHandleIsNotInTheChild) {
  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(memory, kNt);
  Child child = StartChild({"import", std::to_string(Fd(handle)), std::to_string(kSize), "0", "1"});
  EXPECT_EQ(child.Wait(), 2) << "the child imported a close-on-exec handle";
  close(Fd(handle));
  dev->Free(memory);
}

TEST_F(CrossProcess, HandleSentOverUnixSocket) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  // Only the child's end is inherited.
  ASSERT_EQ(fcntl(sv[1], F_SETFD, 0), 0);
  Child child = StartChild({"socket", std::to_string(sv[1])});
  close(sv[1]);

  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  dev->WriteU32(memory, 0xFEED0003);
  HANDLE handle = dev->GetHandle(memory, kNt);
  struct {
    uint64_t size;
    uint32_t expect;
    uint32_t reply;
  } request{kSize, 0xFEED0003, 0xD00D};
  ASSERT_TRUE(SendFd(sv[0], Fd(handle), &request, sizeof request));
  char ack = -1;
  ASSERT_EQ(read(sv[0], &ack, 1), 1);
  EXPECT_EQ(ack, 0);
  EXPECT_EQ(child.Wait(), 0);
  EXPECT_EQ(dev->ReadU32(memory, 4), 0xD00Du);
  close(sv[0]);
  close(Fd(handle));
  dev->Free(memory);
}

// An NT handle that went to another process and came back is a new descriptor of the same open file
// description: it is still traced to the memory that exported it, so an import that does not match that
// memory breaks VUID-VkMemoryAllocateInfo-allocationSize-01743 (on every driver: by inode where payloads have
// one, by open file description where all are one device node).
TEST_F(CrossProcess, HandleBackFromAnotherProcessIsTracedToItsExporter) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(fcntl(sv[1], F_SETFD, 0), 0);
  Child child = StartChild({"return", std::to_string(sv[1])});
  close(sv[1]);

  VkDeviceMemory memory = dev->AllocateExportable(kSize, kNt);
  HANDLE handle = dev->GetHandle(memory, kNt);
  ASSERT_NE(handle, nullptr);
  char byte = 0;
  ASSERT_TRUE(SendFd(sv[0], Fd(handle), &byte, 1));
  close(Fd(handle));  // only the descriptor that comes back is left
  int back = -1;
  ASSERT_TRUE(ReceiveFd(sv[0], &back, &byte, 1));
  ASSERT_GE(back, 0);
  EXPECT_EQ(child.Wait(), 0);
  close(sv[0]);

  vk->monitor.Clear();
  VkResult r = VK_SUCCESS;
  VkDeviceMemory wrong =
      dev->ImportHandle(kSize / 2, kNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(back)), nullptr, &r);
  EXPECT_EQ(r, VK_ERROR_VALIDATION_FAILED_EXT);
  EXPECT_EQ(wrong, VK_NULL_HANDLE);
  auto messages = vk->monitor.Take();
  ASSERT_EQ(messages.size(), 1u) << Describe(messages);
  EXPECT_EQ(messages[0].id, "VUID-VkMemoryAllocateInfo-allocationSize-01743");
  VkDeviceMemory right =
      dev->ImportHandle(kSize, kNt, reinterpret_cast<HANDLE>(static_cast<intptr_t>(back)), nullptr, &r);
  EXPECT_EQ(r, VK_SUCCESS);
  dev->Free(right);
  close(back);
  dev->Free(memory);
}

}  // namespace
}  // namespace ntbridge::test
