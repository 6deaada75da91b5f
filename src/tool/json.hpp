// The tool's `--json` output: nlohmann::json, members kept in the order they are added.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ntbridge::tool {

using Json = nlohmann::ordered_json;

// `json` as the tool prints it: two-space indentation and a final newline. Bytes that are not UTF-8 (a
// driver's or an application's name may hold any) are replaced by U+FFFD instead of failing the output.
std::string JsonText(const Json& json);

}  // namespace ntbridge::tool
