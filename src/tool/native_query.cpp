#include "native_query.hpp"

#include <algorithm>
#include <iostream>

#include "child_run.hpp"
#include "driver_alone_env.hpp"
#include "vk_session.hpp"

extern char** environ;

namespace ntbridge::tool {

namespace {

constexpr int kTimeoutSeconds = 120;

std::vector<std::string> ThisEnvironment() {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

// A program's stderr on one line (its error and what to do), at most 600 characters.
std::string OneLine(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else if (c != ' ' || (!out.empty() && out.back() != ' ')) {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.size() > 600 ? out.substr(0, 600) + "..." : out;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

}  // namespace

const NativeDevice* NativeAnswers::Find(const std::string& device_uuid) const {
  const auto it = devices.find(device_uuid);
  return it == devices.end() ? nullptr : &it->second;
}

NativeAnswers ParseNativeAnswers(const std::string& text) {
  NativeAnswers answers;
  try {
    const Json json = Json::parse(text);
    answers.layers = json.at("layers").get<std::vector<std::string>>();
    if (!json.at("driverAlone").get<bool>()) {
      answers.why = json.at("why").get<std::string>();
      return answers;
    }
    for (const Json& device : json.at("devices")) {
      NativeDevice& out = answers.devices[device.at("deviceUUID").get<std::string>()];
      for (const Json& name : device.at("extensions")) out.extensions.insert(name.get<std::string>());
      for (const auto& [key, cell] : device.at("rows").items()) {
        if (auto capability = CapabilityFromJson(cell)) out.rows.emplace(key, *capability);
      }
    }
    answers.asked = true;
  } catch (const Json::exception& e) {
    answers = {};
    answers.why = std::string("its answer is not what this ntbridge expects (") + e.what() + ")";
  }
  return answers;
}

NativeAnswers AskDriverAlone() {
  const ChildOutput child = RunCapturing({"/proc/self/exe", "__native-query"},
                                         DriverAloneEnvironment(ThisEnvironment()), kTimeoutSeconds);
  NativeAnswers answers;
  if (child.timed_out) {
    answers.why = "the process asking the driver without layers did not answer within " +
                  std::to_string(kTimeoutSeconds) + " s";
  } else if (child.status != 0) {
    answers.why = "the process asking the driver without layers failed (exit status " +
                  std::to_string(child.status) + "): " + OneLine(child.err);
  } else {
    answers = ParseNativeAnswers(child.out);
    if (!answers.asked) answers.why = "the process asking the driver without layers: " + answers.why;
  }
  return answers;
}

int RunNativeQuery() {
  // Declared before the instance: the loader reports into it until vkDestroyInstance returns.
  std::vector<std::string> loader_messages;
  Instance instance(false, &loader_messages);
  Json out;
  const std::vector<std::string> layers = InsertedLayers(loader_messages);
  uint32_t count = 0;
  vkEnumerateInstanceLayerProperties(&count, nullptr);
  std::vector<VkLayerProperties> offered(count);
  vkEnumerateInstanceLayerProperties(&count, offered.data());
  offered.resize(count);
  const bool offers_ntbridge = std::any_of(offered.begin(), offered.end(), [](const VkLayerProperties& p) {
    return std::string(p.layerName) == kLayerName;
  });
  std::string why;
  if (std::find(layers.begin(), layers.end(), kLayerName) != layers.end()) {
    why = std::string("the Vulkan loader inserted ") + kLayerName +
          " into an instance that did not enable it (layers it inserted: " + Joined(layers) + ")";
  } else if (loader_messages.empty() && offers_ntbridge) {
    // A loader that reports nothing cannot say which layers it inserted; one that does not even offer the
    // layer cannot have inserted it.
    why = std::string("this Vulkan loader does not report the layers it inserts, and it offers ") +
          kLayerName + " (vkEnumerateInstanceLayerProperties), so the answers could be the layer's";
  }
  out["driverAlone"] = why.empty();
  out["why"] = why;
  out["layers"] = layers;
  out["devices"] = Json::array();
  if (why.empty()) {
    for (VkPhysicalDevice gpu : instance.PhysicalDevices()) {
      const GpuFacts facts = QueryGpu(gpu);
      Json rows = Json::object();
      for (const CapabilityTable& table : CapabilityTables()) {
        for (const CapabilityRow& row : table.rows) rows[row.key] = CapabilityJson(row.query(gpu));
      }
      out["devices"].push_back({{"deviceUUID", UuidString(facts.device_uuid)},
                                {"extensions", facts.extensions},
                                {"rows", std::move(rows)}});
    }
  }
  std::cout << JsonText(out);
  return 0;
}

}  // namespace ntbridge::tool
