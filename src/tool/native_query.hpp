// The native columns of `ntbridge info`: what the driver answers on its own, asked in a separate process
// (this program again, `ntbridge __native-query`) whose environment enables no layer (driver_alone_env.hpp).
// An instance of this process cannot be trusted to be without ntbridge: VK_INSTANCE_LAYERS,
// VK_LOADER_LAYERS_ENABLE or an implicit manifest put the layer into every instance. The answering process
// checks from the inside that the loader inserted no ntbridge; when it did, or the process failed, nothing
// is reported as native and `why` says what happened.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "capabilities.hpp"

namespace ntbridge::tool {

struct NativeDevice {
  std::set<std::string> extensions;        // the device extensions the driver offers
  std::map<std::string, Capability> rows;  // by CapabilityRow::key, for every row of CapabilityTables()
};

struct NativeAnswers {
  bool asked = false;  // the driver was asked alone; when false, `why` says why not and `devices` is empty
  std::string why;
  std::vector<std::string> layers;              // the layers the loader still inserted there (normally none)
  std::map<std::string, NativeDevice> devices;  // by deviceUUID (UuidString)
  const NativeDevice* Find(const std::string& device_uuid) const;
};

// Runs `ntbridge __native-query` with DriverAloneEnvironment() and reads its answer.
NativeAnswers AskDriverAlone();

// The answering process's JSON (what RunNativeQuery prints) as NativeAnswers; a malformed text gives
// asked = false and says so.
NativeAnswers ParseNativeAnswers(const std::string& text);

// `ntbridge __native-query`: creates an instance without enabling a layer, records which layers the loader
// inserted, and prints for every physical device its extensions and every row's capability, as JSON.
// Exit status 0 whenever it could answer (also when ntbridge was inserted: the JSON says so).
int RunNativeQuery();

}  // namespace ntbridge::tool
