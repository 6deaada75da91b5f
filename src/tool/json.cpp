#include "json.hpp"

namespace ntbridge::tool {

std::string JsonText(const Json& json) {
  return json.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace ntbridge::tool
