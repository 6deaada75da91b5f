// `ntbridge status [--json] [--socket PATH]`: what the user's broker (ntbridged) holds — names, KMT values,
// object kinds, holders, sizes of memory and the layer's flags of semaphores and fences — from the broker's
// status request. It never starts a broker.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "broker_client.hpp"
#include "commands.hpp"
#include "json.hpp"
#include "socket_path.hpp"

namespace ntbridge::tool {

const char* const kStatusHelp =
    "usage: ntbridge status [--json] [--socket PATH]\n\n"
    "What the user's ntbridged broker holds: names, KMT (global share) values, holders, and what each\n"
    "payload is: memory (its size, memory type and access), or a semaphore (binary or timeline) or fence\n"
    "(its access, and whether it is the driver's payload or ntbridge's shared payload).\n"
    "  --json         machine-readable output\n"
    "  --socket PATH  the broker's socket (default: VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET, else\n"
    "                 $XDG_RUNTIME_DIR/ntbridge/broker.sock, else /tmp/ntbridge-<uid>/broker.sock)\n";

namespace {

// PayloadInfo::object_flags of semaphores and fences, as the layer sets them (src/layer/sync.cpp,
// kFlagTimeline and kFlagSharedPayload); the broker keeps them without looking.
constexpr uint32_t kFlagTimeline = 1;
constexpr uint32_t kFlagSharedPayload = 2;

bool IsSync(const protocol::PayloadInfo& info) { return info.object_kind != protocol::ObjectKind::kMemory; }

// "timeline, shared payload": a semaphore's or fence's flags in words; "-" for memory.
std::string FlagsText(const protocol::PayloadInfo& info) {
  if (!IsSync(info)) return "-";
  std::string text;
  if (info.object_kind == protocol::ObjectKind::kSemaphore) {
    text = (info.object_flags & kFlagTimeline) ? "timeline, " : "binary, ";
  }
  return text + ((info.object_flags & kFlagSharedPayload) ? "shared payload" : "driver payload");
}

std::string Hex(uint64_t v, int width) {
  char b[32];
  std::snprintf(b, sizeof b, "%0*" PRIx64, width, v);
  return b;
}

// "1234 x2, 5678": each holder process once, with its number of holds.
std::string Holders(const std::vector<uint32_t>& pids) {
  std::map<uint32_t, int> counts;
  for (uint32_t p : pids) ++counts[p];
  std::string out;
  for (const auto& [pid, n] : counts) {
    if (!out.empty()) out += ", ";
    out += std::to_string(pid) + (n > 1 ? " x" + std::to_string(n) : "");
  }
  return out;
}

void PrintText(const std::string& socket, const std::vector<protocol::StatusEntry>& entries,
               const protocol::StatusReply& s) {
  std::printf("ntbridged pid %u at %s: generation %u, %u connections, %u payloads\n", s.broker_pid,
              socket.c_str(), s.kmt_generation, s.connections, s.payloads);
  if (entries.empty()) return;
  std::printf("%-16s  %-10s  %-9s  %12s  %4s  %-24s  %-10s  %-20s  %s\n", "PAYLOAD", "KMT", "KIND", "SIZE",
              "TYPE", "FLAGS", "ACCESS", "HOLDERS (PID)", "NAME");
  for (const auto& e : entries) {
    const bool sync = IsSync(e.info);
    std::printf("%-16s  %-10s  %-9s  %12s  %4s  %-24s  0x%08x  %-20s  %s\n", Hex(e.payload, 16).c_str(),
                e.kmt != 0 ? ("0x" + Hex(e.kmt, 8)).c_str() : "-",
                protocol::ObjectKindName(e.info.object_kind),
                sync ? "-" : std::to_string(e.info.allocation_size).c_str(),
                sync ? "-" : std::to_string(e.info.memory_type_index).c_str(), FlagsText(e.info).c_str(),
                e.info.access, Holders(e.holders).c_str(), e.name.empty() ? "-" : e.name.c_str());
  }
}

void PrintJson(const std::string& socket, bool running, const std::vector<protocol::StatusEntry>& entries,
               const protocol::StatusReply& s) {
  Json j = {{"socket", socket}, {"running", running}};
  if (running) {
    j["pid"] = s.broker_pid;
    j["generation"] = s.kmt_generation;
    j["connections"] = s.connections;
    j["payloads"] = Json::array();
    for (const auto& e : entries) {
      Json payload = {{"payload", Hex(e.payload, 16)}};
      if (e.kmt != 0) payload["kmt"] = e.kmt;
      if (!e.name.empty()) payload["name"] = e.name;
      payload["objectKind"] = protocol::ObjectKindName(e.info.object_kind);
      if (IsSync(e.info)) {
        payload["objectFlags"] = e.info.object_flags;
        if (e.info.object_kind == protocol::ObjectKind::kSemaphore) {
          payload["timeline"] = (e.info.object_flags & kFlagTimeline) != 0;
        }
        payload["sharedPayload"] = (e.info.object_flags & kFlagSharedPayload) != 0;
      } else {
        payload["allocationSize"] = e.info.allocation_size;
        payload["memoryTypeIndex"] = e.info.memory_type_index;
      }
      payload["dwAccess"] = e.info.access;
      payload["holders"] = e.holders;
      j["payloads"].push_back(std::move(payload));
    }
  }
  std::cout << JsonText(j);
}

}  // namespace

int RunStatus(const StatusOptions& options) {
  const bool json = options.json;
  std::string socket = options.socket;
  if (const char* env = std::getenv("VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET");
      env != nullptr && socket.empty()) {
    socket = env;
  }
  socket = BrokerSocketPath(socket);
  BrokerClient client;
  client.SetOptions({socket, "", false});
  std::vector<protocol::StatusEntry> entries;
  protocol::StatusReply reply;
  std::string error;
  bool running = client.Status(&entries, &reply, &error);
  if (json) {
    PrintJson(socket, running, entries, reply);
  } else if (running) {
    PrintText(socket, entries, reply);
  } else {
    std::printf(
        "no broker is running at %s (the layer starts one when a process first uses a KMT or named "
        "handle)\n",
        socket.c_str());
  }
  return 0;
}

}  // namespace ntbridge::tool
