// Two processes share Vulkan memory through a Win32 NT handle, the way a Windows program would, on Linux.
//
// The producer allocates exportable memory, fills it, takes an NT handle with vkGetMemoryWin32HandleKHR and
// sends it to a consumer process (started with exec) over a Unix socket. The consumer imports the handle with
// VkImportMemoryWin32HandleInfoKHR, checks every byte and writes an answer the producer then reads.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#define VK_USE_PLATFORM_WIN32_KHR 1
#include <vulkan/vulkan.h>

namespace {

constexpr VkDeviceSize kSize = 4 << 20;
constexpr uint32_t kAnswer = 0x600DF00D;

struct Message {
  uint64_t size;
  uint32_t memory_type;
  uint32_t seed;
};

[[noreturn]] void Fail(const char* role, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", role, what.c_str());
  std::exit(1);
}

struct Vulkan {
  VkInstance instance = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t host_type = UINT32_MAX;
  PFN_vkGetMemoryWin32HandleKHR GetMemoryWin32HandleKHR = nullptr;
  std::string device_name;

  explicit Vulkan(const char* role) {
    const char* layers[] = {"VK_LAYER_NTBRIDGE_external_win32"};
    VkApplicationInfo app{
        VK_STRUCTURE_TYPE_APPLICATION_INFO, nullptr, "share_nt_handle", 1, nullptr, 0, VK_API_VERSION_1_1};
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, nullptr, 0, &app, 1, layers, 0, nullptr};
    if (vkCreateInstance(&ici, nullptr, &instance) != VK_SUCCESS) {
      Fail(role,
           "vkCreateInstance with VK_LAYER_NTBRIDGE_external_win32 failed: is VK_ADD_LAYER_PATH set to the "
           "folder of the layer's manifest?");
    }
    uint32_t count = 0;
    vkEnumeratePhysicalDevices(instance, &count, nullptr);
    std::vector<VkPhysicalDevice> gpus(count);
    vkEnumeratePhysicalDevices(instance, &count, gpus.data());
    if (gpus.empty()) Fail(role, "no Vulkan physical device");
    VkPhysicalDevice gpu = gpus[0];
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(gpu, &props);
    device_name = props.deviceName;
    float priority = 1;
    VkDeviceQueueCreateInfo q{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, nullptr, 0, 0, 1, &priority};
    const char* ext[] = {VK_KHR_EXTERNAL_MEMORY_WIN32_EXTENSION_NAME};
    VkDeviceCreateInfo dci{
        VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, nullptr, 0, 1, &q, 0, nullptr, 1, ext, nullptr};
    if (vkCreateDevice(gpu, &dci, nullptr, &device) != VK_SUCCESS) {
      Fail(role, "vkCreateDevice with VK_KHR_external_memory_win32 failed on " + device_name);
    }
    GetMemoryWin32HandleKHR = reinterpret_cast<PFN_vkGetMemoryWin32HandleKHR>(
        vkGetDeviceProcAddr(device, "vkGetMemoryWin32HandleKHR"));
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(gpu, &mp);
    const VkMemoryPropertyFlags want =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < mp.memoryTypeCount && host_type == UINT32_MAX; ++i) {
      if ((mp.memoryTypes[i].propertyFlags & want) == want) host_type = i;
    }
  }
  ~Vulkan() {
    vkDestroyDevice(device, nullptr);
    vkDestroyInstance(instance, nullptr);
  }
  uint32_t* Map(VkDeviceMemory memory) {
    void* p = nullptr;
    if (vkMapMemory(device, memory, 0, VK_WHOLE_SIZE, 0, &p) != VK_SUCCESS) Fail("map", "vkMapMemory failed");
    return static_cast<uint32_t*>(p);
  }
};

uint32_t Pattern(uint32_t seed, size_t i) { return seed * 2654435761u ^ static_cast<uint32_t>(i * 40503u); }

int Consumer(int sock) {
  Message msg{};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov{&msg, sizeof msg};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != sizeof msg) Fail("consumer", "no message from the producer");
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) Fail("consumer", "the producer sent no handle");
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  HANDLE handle = reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd));

  Vulkan vk("consumer");
  VkImportMemoryWin32HandleInfoKHR import{VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                          VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT, handle, nullptr};
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &import, msg.size, msg.memory_type};
  VkDeviceMemory memory;
  VkResult r = vkAllocateMemory(vk.device, &info, nullptr, &memory);
  if (r != VK_SUCCESS) Fail("consumer", "import of the NT handle failed: VkResult " + std::to_string(r));
  close(fd);  // CloseHandle: the imported memory keeps the payload
  uint32_t* words = vk.Map(memory);
  size_t bad = 0;
  for (size_t i = 0; i < msg.size / 4; ++i) bad += words[i] != Pattern(msg.seed, i);
  std::printf("consumer (pid %d): imported NT handle %p on %s, checked %llu bytes, %zu wrong words\n",
              getpid(), handle, vk.device_name.c_str(), static_cast<unsigned long long>(msg.size), bad);
  words[0] = bad == 0 ? kAnswer : 0;
  vkUnmapMemory(vk.device, memory);
  vkFreeMemory(vk.device, memory, nullptr);
  char done = bad == 0 ? 0 : 1;
  if (write(sock, &done, 1) != 1) Fail("consumer", "could not answer the producer");
  return done;
}

int Producer(const char* self) {
  Vulkan vk("producer");
  VkExportMemoryWin32HandleInfoKHR win32{VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR, nullptr,
                                         nullptr, GENERIC_ALL, nullptr};
  VkExportMemoryAllocateInfo exp{VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO, &win32,
                                 VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &exp, kSize, vk.host_type};
  VkDeviceMemory memory;
  if (vkAllocateMemory(vk.device, &info, nullptr, &memory) != VK_SUCCESS)
    Fail("producer", "vkAllocateMemory failed");
  const uint32_t seed = static_cast<uint32_t>(getpid());
  uint32_t* words = vk.Map(memory);
  for (size_t i = 0; i < kSize / 4; ++i) words[i] = Pattern(seed, i);

  VkMemoryGetWin32HandleInfoKHR get{VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR, nullptr, memory,
                                    VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT};
  HANDLE handle = nullptr;
  VkResult r = vk.GetMemoryWin32HandleKHR(vk.device, &get, &handle);
  if (r != VK_SUCCESS) Fail("producer", "vkGetMemoryWin32HandleKHR failed: VkResult " + std::to_string(r));
  std::printf("producer (pid %d): %llu bytes on %s, NT handle %p from vkGetMemoryWin32HandleKHR\n", getpid(),
              static_cast<unsigned long long>(kSize), vk.device_name.c_str(), handle);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) Fail("producer", "socketpair failed");
  pid_t pid = fork();
  if (pid == 0) {
    // exec at once: the driver must start fresh in the consumer.
    std::string sock = std::to_string(dup(sv[1]));
    execl(self, self, "--consumer", sock.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(sv[1]);
  Message msg{kSize, vk.host_type, seed};
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(handle));
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&msg, sizeof msg};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sv[0], &mh, MSG_NOSIGNAL) != sizeof msg) Fail("producer", "could not send the handle");
  std::printf("producer: sent the handle to consumer pid %d over a Unix socket (SCM_RIGHTS)\n", pid);
  char done = 1;
  bool answered = read(sv[0], &done, 1) == 1;
  int status = 0;
  waitpid(pid, &status, 0);
  bool ok = answered && done == 0 && words[0] == kAnswer;
  std::printf("producer: consumer %s; its write is %s in the producer's memory\n",
              answered && done == 0 ? "found every byte intact" : "reported a mismatch or failed",
              words[0] == kAnswer ? "visible" : "NOT visible");
  vkUnmapMemory(vk.device, memory);
  close(fd);
  vkFreeMemory(vk.device, memory, nullptr);
  std::printf("%s\n", ok ? "OK: memory shared between two processes through a Win32 NT handle"
                         : "FAILED: the processes did not share the memory");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc == 3 && std::strcmp(argv[1], "--consumer") == 0) return Consumer(std::atoi(argv[2]));
  if (argc > 1) {
    std::fprintf(stderr, "usage: %s   (shares 4 MiB between two processes through an NT handle)\n", argv[0]);
    return 2;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) Fail("producer", "cannot find its own program to start the consumer");
  self[n] = '\0';
  return Producer(self);
}
