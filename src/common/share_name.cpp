#include "share_name.hpp"

#include <string_view>

#include "protocol.hpp"

namespace ntbridge {
namespace {

size_t CountCharacters(const std::string& utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::optional<std::string> WideToUtf8(const wchar_t* name) {
  std::string out;
  out.reserve(64);  // most names: one allocation
  for (const wchar_t* p = name; *p != 0; ++p) {
    auto c = static_cast<uint32_t>(*p);
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return std::nullopt;
    if (out.size() > protocol::kMaxNameBytes) break;  // too long anyway; CheckShareName says so
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string CheckShareName(const std::string& utf8) {
  if (utf8.empty()) return "the name is empty";
  if (utf8.size() > protocol::kMaxNameBytes || CountCharacters(utf8) > protocol::kMaxNameChars) {
    return "the name is longer than " + std::to_string(protocol::kMaxNameChars) + " characters";
  }
  std::string_view rest = utf8;  // a view: the check runs on every open by name
  for (std::string_view prefix : {std::string_view("Local\\"), std::string_view("Global\\")}) {
    if (rest.starts_with(prefix)) {
      rest.remove_prefix(prefix.size());
      break;
    }
  }
  if (rest.empty()) return "the name has a namespace prefix but nothing after it";
  if (rest.find('\\') != std::string::npos) {
    return "the name has a backslash other than after the prefix \"Local\\\" or \"Global\\\"";
  }
  for (unsigned char c : rest) {
    if (c < 0x20) return "the name holds a control character";
  }
  return {};
}

}  // namespace ntbridge
