// A minimal JSON writer for `--json` output (objects, arrays, strings, numbers, booleans).
#pragma once

#include <string>
#include <vector>

namespace ntbridge::tool {

class Json {
 public:
  Json& BeginObject(const std::string& key = {});
  Json& EndObject();
  Json& BeginArray(const std::string& key = {});
  Json& EndArray();
  Json& String(const std::string& key, const std::string& value);
  Json& Bool(const std::string& key, bool value);
  Json& Number(const std::string& key, double value);
  Json& StringItem(const std::string& value);  // inside an array
  const std::string& text() const { return out_; }

 private:
  void Key(const std::string& key);
  static std::string Quote(const std::string& text);
  std::string out_;
  std::vector<bool> first_;  // per open container: no member written yet
};

}  // namespace ntbridge::tool
