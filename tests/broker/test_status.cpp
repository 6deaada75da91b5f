// `ntbridge status`: what the broker holds, readable and as JSON.
#include <sys/mman.h>
#include <unistd.h>

#include "broker_client.hpp"
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

// Publishes a payload of `kind` with the layer's `object_flags` under `name`, as the layer of an exporting
// process does; the client holds it until destroyed.
void PublishSync(BrokerClient& client, protocol::ObjectKind kind, uint32_t object_flags,
                 const std::string& name) {
  protocol::PublishRequest request{protocol::kPublishName, {}, name};
  request.info.access = 0x10000000;
  request.info.object_kind = kind;
  request.info.object_flags = object_flags;
  const int fd = memfd_create("status-sync", MFD_CLOEXEC);
  protocol::PublishReply reply;
  std::string error;
  EXPECT_TRUE(client.Publish(request, fd, &reply, &error)) << error;
  EXPECT_EQ(reply.status, protocol::Status::kOk);
  close(fd);
}

TEST_F(Status, ShowsTheKindOfEachPayloadAndTheFlagsOfSemaphoresAndFences) {
  BrokerClient client;
  client.SetOptions({Broker().socket, NTBRIDGE_BROKER_PROGRAM, true});
  // The flags as src/layer/sync.cpp sets them: bit 1 timeline, bit 2 shared payload.
  PublishSync(client, protocol::ObjectKind::kSemaphore, 1 | 2, "Local\\status-timeline");
  PublishSync(client, protocol::ObjectKind::kSemaphore, 0, "Local\\status-binary");
  PublishSync(client, protocol::ObjectKind::kFence, 2, "Local\\status-fence");
  VkDeviceMemory memory = ExportNamed(L"Local\\status-memory", kSize);

  const std::string text = RunTool({"status"});
  auto line = [&](const std::string& name) {
    const size_t at = text.find(name);
    if (at == std::string::npos) return std::string();
    const size_t begin = text.rfind('\n', at) + 1;
    return text.substr(begin, text.find('\n', at) - begin);
  };
  EXPECT_NE(line("status-timeline").find("semaphore"), std::string::npos) << text;
  EXPECT_NE(line("status-timeline").find("timeline, shared payload"), std::string::npos) << text;
  EXPECT_NE(line("status-binary").find("binary, driver payload"), std::string::npos) << text;
  EXPECT_NE(line("status-fence").find("fence"), std::string::npos) << text;
  EXPECT_NE(line("status-fence").find("  shared payload"), std::string::npos) << text;
  EXPECT_NE(line("status-memory").find("memory"), std::string::npos) << text;
  EXPECT_NE(line("status-memory").find(std::to_string(kSize)), std::string::npos) << text;

  const std::string json = RunTool({"status", "--json"});
  auto entry = [&](const std::string& name) {
    const size_t at = json.find("\"name\": \"Local\\\\" + name + "\"");
    if (at == std::string::npos) return std::string();
    const size_t begin = json.rfind('{', at);
    return json.substr(begin, json.find('}', at) - begin);
  };
  const std::string timeline = entry("status-timeline");
  EXPECT_NE(timeline.find("\"objectKind\": \"semaphore\""), std::string::npos) << json;
  EXPECT_NE(timeline.find("\"objectFlags\": 3"), std::string::npos) << timeline;
  EXPECT_NE(timeline.find("\"timeline\": true"), std::string::npos) << timeline;
  EXPECT_NE(timeline.find("\"sharedPayload\": true"), std::string::npos) << timeline;
  EXPECT_EQ(timeline.find("allocationSize"), std::string::npos) << timeline;
  const std::string binary = entry("status-binary");
  EXPECT_NE(binary.find("\"timeline\": false"), std::string::npos) << binary;
  EXPECT_NE(binary.find("\"sharedPayload\": false"), std::string::npos) << binary;
  const std::string fence = entry("status-fence");
  EXPECT_NE(fence.find("\"objectKind\": \"fence\""), std::string::npos) << fence;
  EXPECT_NE(fence.find("\"sharedPayload\": true"), std::string::npos) << fence;
  EXPECT_EQ(fence.find("\"timeline\""), std::string::npos) << fence;
  const std::string shared_memory = entry("status-memory");
  EXPECT_NE(shared_memory.find("\"objectKind\": \"memory\""), std::string::npos) << json;
  EXPECT_NE(shared_memory.find("\"allocationSize\": " + std::to_string(kSize)), std::string::npos) << json;
  dev->Free(memory);
}

}  // namespace
}  // namespace ntbridge::test
