// libFuzzer target: share names as applications give them (wide strings of any content and length) through
// WideToUtf8 and CheckShareName. A name that is accepted is non-empty, at most kMaxNameChars characters, has
// no control character and no backslash but after the "Local\" or "Global\" prefix.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "protocol.hpp"
#include "share_name.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<wchar_t> wide(size / sizeof(wchar_t) + 1, L'\0');
  std::memcpy(wide.data(), data, size / sizeof(wchar_t) * sizeof(wchar_t));
  std::optional<std::string> utf8 = ntbridge::WideToUtf8(wide.data());
  // Raw bytes as a name too: the broker sees names in UTF-8 from the wire.
  std::string raw(reinterpret_cast<const char*>(data), size);
  for (const std::string* name : {utf8 ? &*utf8 : nullptr, &raw}) {
    if (name == nullptr) continue;
    std::string why = ntbridge::CheckShareName(*name);
    if (!why.empty()) continue;
    if (name->empty() || name->size() > ntbridge::protocol::kMaxNameBytes) __builtin_trap();
    std::string rest = *name;
    for (const char* prefix : {"Local\\", "Global\\"}) {
      if (rest.rfind(prefix, 0) == 0) {
        rest = rest.substr(std::strlen(prefix));
        break;
      }
    }
    if (rest.empty() || rest.find('\\') != std::string::npos) __builtin_trap();
    for (unsigned char c : rest) {
      if (c < 0x20) __builtin_trap();
    }
  }
  return 0;
}
