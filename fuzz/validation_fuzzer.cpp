// libFuzzer target: the Valid Usage rules (src/layer/validation/) on arbitrary parameters — pNext chains of
// any shape (cycles, unknown and repeated sTypes), any handle types, handle values, names and records. The
// rules must return without crashing, and every violation they report must name a VUID and say what was
// wrong.
#include <cstdint>
#include <cstring>
#include <vector>

#include "validation/rules.hpp"

namespace {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T Take() {
    T v{};
    size_t n = std::min(sizeof v, size_);
    std::memcpy(&v, data_, n);
    data_ += n;
    size_ -= n;
    return v;
  }
  bool empty() const { return size_ == 0; }

 private:
  const uint8_t* data_;
  size_t size_;
};

constexpr VkStructureType kTypes[] = {
    VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO,
    VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
    VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR,
    VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO,
    VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR,
    VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_NV,
    VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO_NV,
    VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
};

union Node {
  VkBaseOutStructure base;
  VkExportMemoryAllocateInfo export_info;
  VkExportMemoryWin32HandleInfoKHR export_win32;
  VkImportMemoryWin32HandleInfoKHR import_win32;
  VkMemoryDedicatedAllocateInfo dedicated;
  VkImportMemoryFdInfoKHR import_fd;
  VkImportMemoryWin32HandleInfoNV import_nv;
  VkExportMemoryAllocateInfoNV export_nv;
  VkMemoryAllocateFlagsInfo flags;
  uint8_t raw[128];
};

void Check(const ntbridge::Violations& violations) {
  for (const auto& v : violations) {
    if (v.vuid == nullptr || std::strncmp(v.vuid, "VUID-", 5) != 0 || v.message.empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const size_t count = in.Take<uint8_t>() % 12;
  std::vector<Node> nodes(count + 1);
  SECURITY_ATTRIBUTES attributes{sizeof(SECURITY_ATTRIBUTES), nullptr, in.Take<uint8_t>() & 1};
  // Names: NUL-terminated wide strings of fuzzed length, up to past MAX_PATH.
  std::vector<wchar_t> name(in.Take<uint16_t>() % 300 + 1, L'\0');
  for (size_t i = 0; i + 1 < name.size(); ++i) name[i] = static_cast<wchar_t>(in.Take<uint8_t>() % 96 + 32);

  for (size_t i = 0; i < count; ++i) {
    Node& n = nodes[i];
    std::memset(&n, 0, sizeof n);
    const uint8_t kind = in.Take<uint8_t>();
    n.base.sType = kind < 240 ? kTypes[kind % (sizeof kTypes / sizeof kTypes[0])]
                              : static_cast<VkStructureType>(0x7fff0000 + kind);
    switch (n.base.sType) {
      case VK_STRUCTURE_TYPE_EXPORT_MEMORY_ALLOCATE_INFO:
        n.export_info.handleTypes = in.Take<uint32_t>();
        break;
      case VK_STRUCTURE_TYPE_EXPORT_MEMORY_WIN32_HANDLE_INFO_KHR:
        n.export_win32.pAttributes = (in.Take<uint8_t>() & 1) ? &attributes : nullptr;
        n.export_win32.dwAccess = in.Take<uint32_t>();
        n.export_win32.name = (in.Take<uint8_t>() & 1) ? name.data() : nullptr;
        break;
      case VK_STRUCTURE_TYPE_IMPORT_MEMORY_WIN32_HANDLE_INFO_KHR:
        n.import_win32.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(in.Take<uint32_t>());
        n.import_win32.handle = reinterpret_cast<HANDLE>(in.Take<intptr_t>());
        n.import_win32.name = (in.Take<uint8_t>() & 1) ? name.data() : nullptr;
        break;
      case VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO:
        n.dedicated.buffer = reinterpret_cast<VkBuffer>(in.Take<uint64_t>());
        n.dedicated.image = reinterpret_cast<VkImage>(in.Take<uint64_t>());
        break;
      case VK_STRUCTURE_TYPE_IMPORT_MEMORY_FD_INFO_KHR:
        n.import_fd.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(in.Take<uint32_t>());
        n.import_fd.fd = in.Take<int>();
        break;
      default:
        for (size_t b = sizeof(VkBaseOutStructure); b < 32; ++b) n.raw[b] = in.Take<uint8_t>();
        break;
    }
    const uint8_t link = in.Take<uint8_t>();
    n.base.pNext = link < 200 ? (i + 1 < count ? &nodes[i + 1].base : nullptr) : &nodes[link % count].base;
  }

  VkMemoryAllocateInfo info{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  info.pNext = count > 0 ? &nodes[0] : nullptr;
  info.allocationSize = in.Take<uint64_t>();
  info.memoryTypeIndex = in.Take<uint32_t>();
  Check(ntbridge::ValidateAllocateMemory(info));

  ntbridge::MemoryRecord record;
  record.allocation_size = info.allocationSize;
  record.export_types = in.Take<uint32_t>();
  record.nt_handles_fetched = in.Take<uint32_t>();
  VkMemoryGetWin32HandleInfoKHR get{static_cast<VkStructureType>(
      in.Take<uint8_t>() < 250 ? VK_STRUCTURE_TYPE_MEMORY_GET_WIN32_HANDLE_INFO_KHR
                               : VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO)};
  get.pNext = (in.Take<uint8_t>() & 1) && count > 0 ? &nodes[0] : nullptr;
  get.memory = reinterpret_cast<VkDeviceMemory>(in.Take<uint64_t>());
  get.handleType = static_cast<VkExternalMemoryHandleTypeFlagBits>(in.Take<uint32_t>());
  HANDLE handle = nullptr;
  const uint8_t shape = in.Take<uint8_t>();
  Check(ntbridge::ValidateGetMemoryWin32Handle(shape & 1, (shape & 2) ? &get : nullptr,
                                               (shape & 4) ? &handle : nullptr,
                                               (shape & 8) ? &record : nullptr));
  VkMemoryWin32HandlePropertiesKHR props{VK_STRUCTURE_TYPE_MEMORY_WIN32_HANDLE_PROPERTIES_KHR};
  Check(ntbridge::ValidateGetMemoryWin32HandleProperties(shape & 16, get.handleType,
                                                         reinterpret_cast<HANDLE>(get.memory),
                                                         (shape & 32) ? &props : nullptr, shape & 64));
  Check(ntbridge::ValidateExternalMemoryCreateInfo((shape & 128) ? "vkCreateBuffer" : "vkCreateImage",
                                                   in.Take<uint32_t>()));
  return 0;
}
