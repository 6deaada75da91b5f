#include "json.hpp"

#include <cstdio>

namespace ntbridge::tool {

void Json::Key(const std::string& key) {
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
    out_ += '\n' + std::string(first_.size() * 2, ' ');
  }
  if (!key.empty()) out_ += Quote(key) + ": ";
}

std::string Json::Quote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + '"';
}

Json& Json::BeginObject(const std::string& key) {
  Key(key);
  out_ += '{';
  first_.push_back(true);
  return *this;
}

Json& Json::EndObject() {
  const bool empty = first_.back();
  first_.pop_back();
  if (!empty) out_ += '\n' + std::string(first_.size() * 2, ' ');
  out_ += '}';
  if (first_.empty()) out_ += '\n';
  return *this;
}

Json& Json::BeginArray(const std::string& key) {
  Key(key);
  out_ += '[';
  first_.push_back(true);
  return *this;
}

Json& Json::EndArray() {
  const bool empty = first_.back();
  first_.pop_back();
  if (!empty) out_ += '\n' + std::string(first_.size() * 2, ' ');
  out_ += ']';
  return *this;
}

Json& Json::String(const std::string& key, const std::string& value) {
  Key(key);
  out_ += Quote(value);
  return *this;
}

Json& Json::Bool(const std::string& key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
  return *this;
}

Json& Json::Number(const std::string& key, double value) {
  Key(key);
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  out_ += text;
  return *this;
}

Json& Json::StringItem(const std::string& value) {
  Key({});
  out_ += Quote(value);
  return *this;
}

}  // namespace ntbridge::tool
