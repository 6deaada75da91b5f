// The native columns of `ntbridge info`, without a driver: the environment of the process that asks the
// driver alone, how the loader's messages tell the layers it inserted, and how that process's answer is read.
#include <gtest/gtest.h>

#include <algorithm>

#include "driver_alone_env.hpp"
#include "native_query.hpp"
#include "vk_session.hpp"

namespace ntbridge::tool {
namespace {

bool Has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

TEST(DriverAloneEnvironment, DropsEveryLayerVariableAndDisablesAllLayers) {
  const std::vector<std::string> env = DriverAloneEnvironment({
      "PATH=/usr/bin",
      "VK_INSTANCE_LAYERS=VK_LAYER_NTBRIDGE_external_win32",
      "VK_LOADER_LAYERS_ENABLE=*ntbridge*",
      "VK_LOADER_LAYERS_ALLOW=VK_LAYER_NTBRIDGE_external_win32",
      "VK_LOADER_LAYERS_DISABLE=VK_LAYER_other",
      "VK_ADD_LAYER_PATH=/build/layer",
      "VK_LAYER_PATH=/build/layer",
      "VK_IMPLICIT_LAYER_PATH=/build/implicit",
      "VK_ADD_IMPLICIT_LAYER_PATH=/build/implicit",
      "VK_LOADER_DEBUG=all",
      "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
      "VK_INSTANCE_LAYERS_EXTRA=kept",  // only exact names go
      "LD_PRELOAD=/lib/libasan.so",
  });
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/usr/bin",
                                           "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json",
                                           "VK_INSTANCE_LAYERS_EXTRA=kept", "LD_PRELOAD=/lib/libasan.so",
                                           "VK_LOADER_LAYERS_DISABLE=~all~"}));
}

TEST(DriverAloneEnvironment, DisablesLayersInAnEmptyEnvironment) {
  EXPECT_TRUE(Has(DriverAloneEnvironment({}), "VK_LOADER_LAYERS_DISABLE=~all~"));
}

TEST(InsertedLayers, ReadsTheLoadersInsertMessages) {
  EXPECT_EQ(InsertedLayers({
                "Searching for layer manifest files",
                "Insert instance layer \"VK_LAYER_NTBRIDGE_external_win32\" "
                "(/b/libVkLayer_ntbridge_external_win32.so)",
                "Layer \"VK_LAYER_MESA_device_select\" forced disabled because name matches filter",
                "Insert instance layer \"VK_LAYER_KHRONOS_validation\" (libVkLayer_khronos_validation.so)",
                "Insert instance layer \"unterminated",
            }),
            (std::vector<std::string>{"VK_LAYER_NTBRIDGE_external_win32", "VK_LAYER_KHRONOS_validation"}));
  EXPECT_TRUE(InsertedLayers({}).empty());
}

constexpr const char* kAnswer = R"({
  "driverAlone": true, "why": "", "layers": [],
  "devices": [{
    "deviceUUID": "6d657361-3232-2e33-2e36-000000000000",
    "extensions": ["VK_KHR_external_memory_fd"],
    "rows": {
      "memory/buffer/OPAQUE_FD": {"queried": true, "exportable": true, "importable": true, "dedicatedOnly": false,
                                  "compatibleHandleTypes": ["OPAQUE_FD"]},
      "memory/buffer/OPAQUE_WIN32": {"queried": true, "exportable": false, "importable": false,
                                     "dedicatedOnly": false, "compatibleHandleTypes": []}
    }
  }]
})";

TEST(ParseNativeAnswers, ReadsDevicesExtensionsAndRows) {
  const NativeAnswers answers = ParseNativeAnswers(kAnswer);
  ASSERT_TRUE(answers.asked) << answers.why;
  const NativeDevice* device = answers.Find("6d657361-3232-2e33-2e36-000000000000");
  ASSERT_NE(device, nullptr);
  EXPECT_EQ(answers.Find("00000000-0000-0000-0000-000000000000"), nullptr);
  EXPECT_EQ(device->extensions, (std::set<std::string>{"VK_KHR_external_memory_fd"}));
  ASSERT_EQ(device->rows.size(), 2u);
  const Capability& fd = device->rows.at("memory/buffer/OPAQUE_FD");
  EXPECT_TRUE(fd.supported && fd.exportable && fd.importable && !fd.dedicated_only);
  EXPECT_EQ(fd.compatible, (std::vector<std::string>{"OPAQUE_FD"}));
  EXPECT_FALSE(device->rows.at("memory/buffer/OPAQUE_WIN32").supported);
}

TEST(ParseNativeAnswers, AProcessThatGotTheLayerAnswersNothing) {
  const NativeAnswers answers = ParseNativeAnswers(
      R"({"driverAlone": false, "why": "the Vulkan loader inserted VK_LAYER_NTBRIDGE_external_win32",
          "layers": ["VK_LAYER_NTBRIDGE_external_win32"], "devices": []})");
  EXPECT_FALSE(answers.asked);
  EXPECT_EQ(answers.why, "the Vulkan loader inserted VK_LAYER_NTBRIDGE_external_win32");
  EXPECT_EQ(answers.layers, (std::vector<std::string>{"VK_LAYER_NTBRIDGE_external_win32"}));
  EXPECT_TRUE(answers.devices.empty());
}

TEST(ParseNativeAnswers, MalformedAnswersAreNotTakenForTheDriver) {
  for (const char* text :
       {"", "not json", "{}", R"({"driverAlone": true, "why": "", "layers": []})",
        R"({"driverAlone": true, "why": "", "layers": [], "devices": [{"deviceUUID": 5}]})"}) {
    const NativeAnswers answers = ParseNativeAnswers(text);
    EXPECT_FALSE(answers.asked) << text;
    EXPECT_TRUE(answers.devices.empty()) << text;
    EXPECT_NE(answers.why.find("not what this ntbridge expects"), std::string::npos) << answers.why;
  }
}

TEST(CapabilityTables, RowKeysAreUniqueAndEveryRowHasAQuery) {
  std::set<std::string> keys;
  for (const CapabilityTable& table : CapabilityTables()) {
    EXPECT_FALSE(table.rows.empty());
    for (const CapabilityRow& row : table.rows) {
      EXPECT_TRUE(keys.insert(row.key).second) << row.key;
      EXPECT_TRUE(static_cast<bool>(row.query)) << row.key;
    }
  }
  EXPECT_TRUE(keys.count("memory/buffer/OPAQUE_WIN32"));
  EXPECT_TRUE(keys.count("semaphore/binary/OPAQUE_WIN32_KMT"));
  EXPECT_TRUE(keys.count("semaphore/timeline/D3D12_FENCE"));
  EXPECT_TRUE(keys.count("fence/SYNC_FD"));
  EXPECT_FALSE(keys.count("fence/D3D12_FENCE")) << "D3D12_FENCE is a semaphore handle type only";
}

TEST(CapabilityTables, EverySyncKindSaysItsPayloadFromAnOpaqueWin32Row) {
  for (const CapabilityTable& table : CapabilityTables()) {
    EXPECT_EQ(table.payloads.empty(), table.kind == ObjectKind::kMemory);
    EXPECT_EQ(table.json_payload.empty(), table.kind == ObjectKind::kMemory);
    for (const PayloadProbe& probe : table.payloads) {
      const CapabilityRow* row = table.Find(probe.row_key);
      ASSERT_NE(row, nullptr) << probe.row_key;
      EXPECT_EQ(row->handle_type, "OPAQUE_WIN32");
      EXPECT_EQ(row->resource, probe.resource);
    }
  }
}

TEST(HandleTypeName, EachKindNamesItsOwnBits) {
  EXPECT_EQ(HandleTypeName(ObjectKind::kMemory, 0x8), "D3D11_TEXTURE");
  EXPECT_EQ(HandleTypeName(ObjectKind::kSemaphore, 0x8), "D3D12_FENCE");
  EXPECT_EQ(HandleTypeName(ObjectKind::kFence, 0x8), "SYNC_FD");
  EXPECT_EQ(HandleTypeName(ObjectKind::kSemaphore, 0x10), "SYNC_FD");
  EXPECT_EQ(HandleTypeName(ObjectKind::kFence, 0x10), "0x10");
  EXPECT_EQ(HandleTypeNames(ObjectKind::kSemaphore, 0x7),
            (std::vector<std::string>{"OPAQUE_FD", "OPAQUE_WIN32", "OPAQUE_WIN32_KMT"}));
}

TEST(PayloadOf, OnlyTheDriversPayloadIsCompatibleWithOpaqueFd) {
  const Capability driver{true, true, true, false, {"OPAQUE_FD", "OPAQUE_WIN32", "OPAQUE_WIN32_KMT"}};
  const Capability shared{true, true, true, false, {"OPAQUE_WIN32", "OPAQUE_WIN32_KMT"}};
  const Capability import_only{true, false, true, false, {"OPAQUE_WIN32"}};
  EXPECT_EQ(PayloadOf(driver, false), "driver");
  EXPECT_EQ(PayloadOf(shared, false), "shared");
  EXPECT_EQ(PayloadOf(import_only, false), "none");
  EXPECT_EQ(PayloadOf(Capability{}, false), "none");
  EXPECT_EQ(PayloadOf(shared, true), "native");
}

TEST(CapabilityJson, RoundTrips) {
  const Capability c{true, true, false, true, {"OPAQUE_WIN32", "OPAQUE_WIN32_KMT"}};
  EXPECT_EQ(CapabilityFromJson(CapabilityJson(c)), std::optional<Capability>(c));
  EXPECT_EQ(CapabilityFromJson(CapabilityJson(std::nullopt)), std::nullopt);
  EXPECT_EQ(CapabilityJson(std::nullopt).dump(), R"({"queried":false})");
}

}  // namespace
}  // namespace ntbridge::tool
