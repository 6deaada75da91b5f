// Names of shared payloads (VkExportMemoryWin32HandleInfoKHR::name): "Local\\", "Global\\" or bare, then at
// least one character and no further backslash; case-sensitive; at most 260 characters in all.
#pragma once

#include <optional>
#include <string>

namespace ntbridge {

// The UTF-8 form of a wide (UTF-32 on Linux) name, or nullopt when it holds a value that is not a character.
std::optional<std::string> WideToUtf8(const wchar_t* name);

// Why `utf8` is not an acceptable name, or an empty string when it is.
std::string CheckShareName(const std::string& utf8);

}  // namespace ntbridge
