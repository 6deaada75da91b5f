// `ntbridge status [--json] [--socket PATH]`: what the user's broker (ntbridged) holds — names, KMT values,
// holders and sizes — from the broker's status request. It never starts a broker.
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
    "What the user's ntbridged broker holds: names, KMT (global share) values, holders and sizes.\n"
    "  --json         machine-readable output\n"
    "  --socket PATH  the broker's socket (default: VK_NTBRIDGE_EXTERNAL_WIN32_BROKER_SOCKET, else\n"
    "                 $XDG_RUNTIME_DIR/ntbridge/broker.sock, else /tmp/ntbridge-<uid>/broker.sock)\n";

namespace {

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
  std::printf("%-16s  %-10s  %12s  %4s  %-10s  %-20s  %s\n", "PAYLOAD", "KMT", "SIZE", "TYPE", "ACCESS",
              "HOLDERS (PID)", "NAME");
  for (const auto& e : entries) {
    std::printf("%-16s  %-10s  %12" PRIu64 "  %4u  0x%08x  %-20s  %s\n", Hex(e.payload, 16).c_str(),
                e.kmt != 0 ? ("0x" + Hex(e.kmt, 8)).c_str() : "-", e.info.allocation_size,
                e.info.memory_type_index, e.info.access, Holders(e.holders).c_str(),
                e.name.empty() ? "-" : e.name.c_str());
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
      payload["allocationSize"] = e.info.allocation_size;
      payload["memoryTypeIndex"] = e.info.memory_type_index;
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
