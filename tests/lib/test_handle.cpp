// libntbridge: NtHandle and the Win32-style helpers, on plain descriptors and on NT handles from the layer.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ntbridge/handle.hpp>
#include <system_error>

#include "vk_fixture.hpp"

namespace ntbridge {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) >= 0; }

int NewFd() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(NtHandle, ClosesOnDestruction) {
  const int fd = NewFd();
  ASSERT_GE(fd, 0);
  {
    NtHandle handle = NtHandle::FromFd(fd);
    EXPECT_TRUE(handle.valid());
    EXPECT_EQ(handle.fd(), fd);
    EXPECT_EQ(ntbridge_HandleToFd(handle.get()), fd);
  }
  EXPECT_FALSE(IsOpen(fd));
}

TEST(NtHandle, ReleaseGivesUpOwnership) {
  const int fd = NewFd();
  HANDLE raw = nullptr;
  {
    NtHandle handle = NtHandle::FromFd(fd);
    raw = handle.Release();
    EXPECT_FALSE(handle.valid());
    EXPECT_EQ(handle.get(), nullptr);
  }
  EXPECT_TRUE(IsOpen(fd));
  EXPECT_TRUE(ntbridge_CloseHandle(raw));
  EXPECT_FALSE(IsOpen(fd));
}

TEST(NtHandle, MoveTransfersOwnershipAndAssignmentClosesTheOld) {
  const int first = NewFd();
  const int second = NewFd();
  NtHandle a = NtHandle::FromFd(first);
  NtHandle b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.fd(), first);
  b = NtHandle::FromFd(second);
  EXPECT_FALSE(IsOpen(first));
  EXPECT_EQ(b.fd(), second);
}

TEST(NtHandle, NullAndInvalidAreEmpty) {
  EXPECT_FALSE(NtHandle(nullptr).valid());
  EXPECT_FALSE(NtHandle(INVALID_HANDLE_VALUE).valid());
  EXPECT_EQ(ntbridge_HandleToFd(INVALID_HANDLE_VALUE), -1);
  EXPECT_FALSE(ntbridge_CloseHandle(nullptr));
  EXPECT_EQ(errno, EBADF);
  EXPECT_FALSE(ntbridge_CloseHandle(INVALID_HANDLE_VALUE));
}

TEST(NtHandle, DuplicateIsASecondOwnerOfTheSameObject) {
  NtHandle original = NtHandle::FromFd(NewFd());
  NtHandle copy = original.Duplicate();
  EXPECT_NE(copy.fd(), original.fd());
  EXPECT_NE(copy.get(), nullptr);
  EXPECT_TRUE(copy.SameObject(original));
  EXPECT_FALSE(copy.inheritable());
  const int copy_fd = copy.fd();
  original.Reset();
  EXPECT_TRUE(IsOpen(copy_fd));  // the duplicate keeps its own reference
}

TEST(NtHandle, InheritanceFollowsFdCloexec) {
  NtHandle handle = NtHandle::FromFd(NewFd());
  EXPECT_FALSE(handle.inheritable());
  handle.set_inheritable(true);
  EXPECT_TRUE(handle.inheritable());
  EXPECT_EQ(fcntl(handle.fd(), F_GETFD) & FD_CLOEXEC, 0);
  DWORD flags = 0;
  EXPECT_TRUE(ntbridge_GetHandleInformation(handle.get(), &flags));
  EXPECT_EQ(flags, HANDLE_FLAG_INHERIT);
  EXPECT_TRUE(ntbridge_SetHandleInformation(handle.get(), HANDLE_FLAG_INHERIT, 0));
  EXPECT_FALSE(handle.inheritable());
  EXPECT_NE(fcntl(handle.fd(), F_GETFD) & FD_CLOEXEC, 0);
  NtHandle inherited = handle.Duplicate(true);
  EXPECT_TRUE(inherited.inheritable());
  // Flags Linux cannot carry are refused, as unknown flags are on Windows.
  EXPECT_FALSE(ntbridge_SetHandleInformation(handle.get(), 0x2 /* HANDLE_FLAG_PROTECT_FROM_CLOSE */, 0x2));
}

TEST(NtHandle, ErrorsThrowWithTheCallsName) {
  NtHandle closed = NtHandle::FromFd(NewFd());
  const int fd = closed.fd();
  close(fd);  // behind the owner's back
  try {
    (void)closed.Duplicate();
    FAIL() << "Duplicate of a closed descriptor succeeded";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("DuplicateHandle"), std::string::npos) << e.what();
    EXPECT_EQ(e.code().value(), EBADF);
  }
  (void)closed.Release();
}

TEST(NtHandle, DifferentObjectsCompareUnequal) {
  NtHandle a = NtHandle::FromFd(NewFd());
  NtHandle b = NtHandle::FromFd(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(a.SameObject(b));
  EXPECT_FALSE(ntbridge_CompareObjectHandles(a.get(), nullptr));
}

// NT handles from the layer: a handle of the memory an import made is the same object as the exporter's, as
// on Windows, though the descriptors differ.
class NtHandleFromLayer : public test::LayerTest {};

TEST_F(NtHandleFromLayer, ExporterAndImporterHandlesAreTheSameObject) {
  constexpr auto kNt = VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT;
  VkDeviceMemory memory = dev->AllocateExportable(65536, kNt);
  VkDeviceMemory other = dev->AllocateExportable(65536, kNt);
  ASSERT_NE(memory, VK_NULL_HANDLE);
  ASSERT_NE(other, VK_NULL_HANDLE);
  NtHandle first(dev->GetHandle(memory, kNt));
  NtHandle unrelated(dev->GetHandle(other, kNt));
  ASSERT_TRUE(first.valid() && unrelated.valid());
  struct stat st {};
  if (fstat(first.fd(), &st) == 0 && S_ISCHR(st.st_mode)) {
    // NVIDIA: every payload is the same device node. Two allocations must still not compare equal.
    EXPECT_FALSE(ntbridge_CompareObjectHandles(first.get(), unrelated.get()));
    EXPECT_TRUE(first.Duplicate().SameObject(first));
    dev->Free(memory);
    dev->Free(other);
    GTEST_SKIP() << "this driver's NT handles do not identify their allocation (one device node for all)";
  }

  // Import `first` into memory that may itself be exported, and take that memory's NT handle.
  VkExportMemoryAllocateInfo export_info{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, nullptr, kNt};
  VkImportMemoryWin32HandleInfoKHR import_info{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
                                               &export_info, kNt, first.get()};
  VkDeviceMemory imported = VK_NULL_HANDLE;
  ASSERT_EQ(dev->Allocate(65536, dev->HostVisibleType(), &import_info, &imported), VK_SUCCESS);
  NtHandle second(dev->GetHandle(imported, kNt));
  ASSERT_TRUE(second.valid());
  EXPECT_NE(first.fd(), second.fd());
  EXPECT_TRUE(ntbridge_CompareObjectHandles(first.get(), second.get()));
  EXPECT_FALSE(ntbridge_CompareObjectHandles(first.get(), unrelated.get()));
  EXPECT_TRUE(first.Duplicate().SameObject(second));
  dev->Free(imported);
  dev->Free(memory);
  dev->Free(other);
}

}  // namespace
}  // namespace ntbridge
