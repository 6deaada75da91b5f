// `ntbridge status`: what the broker holds, readable and as JSON.
#include "broker_fixture.hpp"

namespace ntbridge::test {
namespace {

constexpr VkDeviceSize kSize = 1 << 16;

std::string RunTool(const std::vector<std::string>& args) {
  ChildProcess tool(args, {}, NTBRIDGE_TOOL_PROGRAM);
  std::string out;
  for (std::string line = tool.ReadLine(30000); !line.empty(); line = tool.ReadLine(30000))
    out += line + "\n";
  EXPECT_EQ(tool.Wait(), 0);
  return out;
}

class Status : public BrokerTest {};

TEST_F(Status, ShowsNamesKmtValuesHoldersAndSizes) {
  EXPECT_NE(RunTool({"status"}).find("no broker is running at " + Broker().socket), std::string::npos);
  VkDeviceMemory memory = ExportNamed(L"Local\\status-frame", kSize);
  uint32_t kmt = Kmt(memory);
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", kmt);

  std::string text = RunTool({"status"});
  EXPECT_NE(text.find("ntbridged pid " + std::to_string(Broker().BrokerPid())), std::string::npos) << text;
  EXPECT_NE(text.find("Local\\status-frame"), std::string::npos) << text;
  EXPECT_NE(text.find(hex), std::string::npos) << text;
  EXPECT_NE(text.find(std::to_string(kSize)), std::string::npos) << text;
  EXPECT_NE(text.find(std::to_string(getpid())), std::string::npos) << text;

  std::string json = RunTool({"status", "--json"});
  EXPECT_NE(json.find("\"running\": true"), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\": \"Local\\\\status-frame\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"kmt\": " + std::to_string(kmt)), std::string::npos) << json;
  EXPECT_NE(json.find("\"allocationSize\": " + std::to_string(kSize)), std::string::npos) << json;
  EXPECT_NE(json.find("\"holders\": [\n"), std::string::npos) << json;
  dev->Free(memory);
}

}  // namespace
}  // namespace ntbridge::test
