// Issue 6, parts 2 and 3: opening memory exported by another process.
//  - open/scm_rights: ask the exporter, receive its fd over a Unix socket (SCM_RIGHTS), import it with
//    VK_KHR_external_memory_fd (no layer), free. The raw handoff baseline.
//  - open/name, open/kmt: import by VkImportMemoryWin32HandleInfoKHR::name or by OPAQUE_WIN32_KMT value
//    through the layer (the broker hands the payload over), free.
//  - open/scm_rights_notify: a reference line, not a side: open/scm_rights plus one message to another
//    process asleep in poll (the exporter reads it and answers nothing). The free of memory opened by name or
//    KMT value must tell the broker; before protocol revision 4 its one-way release woke the broker, and on a
//    machine where waking a sleeping process is dear that wake-up, not ntbridge's code, separated the two
//    sides. From revision 4 the release goes on a socket the broker does not poll (protocol.hpp), and this
//    line is what the old way cost. NTBRIDGE_TEST_POLLED_RELEASES=1 brings the old way back, for A/B runs.
//  - open_64_processes/...: 64 processes doing the same at once.
// The exporter is this program started again with --exporter; the 64 openers with --opener.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_vk.hpp"

namespace ntbridge::bench {
namespace {

constexpr VkDeviceSize kSize = 1 << 20;
constexpr int kProcesses = 64;
constexpr int kOpensPerProcess = 50;

// What the exporter tells the benchmark once it is ready.
struct ExporterInfo {
  int32_t name_result = VK_ERROR_UNKNOWN;  // VkResult of the named export
  int32_t kmt_result = VK_ERROR_UNKNOWN;   // VkResult of vkGetMemoryWin32HandleKHR(KMT)
  uint32_t kmt = 0;
  uint32_t memory_type = 0;
  char socket_name[96] = {};  // abstract Unix socket serving fds (SCM_RIGHTS)
  wchar_t name[64] = {};
};

double Now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

sockaddr_un Address(const char* name, socklen_t* len) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t n = std::min(std::strlen(name), sizeof addr.sun_path - 2);
  std::memcpy(addr.sun_path + 1, name, n);  // abstract namespace: leading NUL
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  return addr;
}

int Connect(const char* name) {
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  socklen_t len;
  sockaddr_un addr = Address(name, &len);
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) Die("cannot connect to the exporter");
  return s;
}

// One fd handoff: request, receive.
int Handoff(int s) {
  char req = 'F', ack = 0;
  int fd = -1;
  if (!WriteAll(s, &req, 1) || !ReceiveFd(s, &fd, &ack, 1) || fd < 0) return -1;
  return fd;
}

// --exporter <report fd>: exports 1 MiB three ways and serves fds until the report socket speaks or closes.
int ExporterMain(int report) {
  VkSide fd_side(Side::kFd);
  VkSide win32(Side::kWin32);
  ExporterInfo info;
  info.memory_type = fd_side.memory_type;
  std::snprintf(info.socket_name, sizeof info.socket_name, "ntbridge-bench-%d", static_cast<int>(getpid()));
  std::swprintf(info.name, 64, L"Local\\ntbridge-bench-%d", static_cast<int>(getpid()));

  VkResult r;
  VkDeviceMemory fd_memory = fd_side.AllocateExportable(kSize, &r);
  if (r != VK_SUCCESS) Die("exporter: fd allocation failed");
  int fd = fd_side.Export(fd_memory, &r);
  if (fd < 0) Die("exporter: vkGetMemoryFdKHR failed");
  VkDeviceMemory named = win32.AllocateExportable(kSize, &r, 0, info.name);
  info.name_result = r;
  VkDeviceMemory kmt_memory = win32.AllocateExportable(kSize, &r, kKmt);
  info.kmt_result = r;
  if (r == VK_SUCCESS) info.kmt = win32.ExportKmt(kmt_memory, &r);
  if (r != VK_SUCCESS) info.kmt_result = r;

  int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  socklen_t len;
  sockaddr_un addr = Address(info.socket_name, &len);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener, 128) != 0) {
    Die("exporter: cannot listen");
  }
  WriteAll(report, &info, sizeof info);

  std::vector<pollfd> fds = {{report, POLLIN, 0}, {listener, POLLIN, 0}};
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents) break;  // the benchmark wrote or closed: done
    if (fds[1].revents & POLLIN) {
      int c = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) fds.push_back({c, POLLIN, 0});
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      char req = 0;
      if (read(fds[i].fd, &req, 1) != 1) {
        close(fds[i].fd);
        fds.erase(fds.begin() + static_cast<long>(i--));
        continue;
      }
      if (req == 'N') continue;  // a notice (open/scm_rights_notify): read, never answered
      SendFd(fds[i].fd, fd, &req, 1);
    }
  }
  close(fd);
  if (info.kmt_result == VK_SUCCESS || kmt_memory != VK_NULL_HANDLE) win32.Free(kmt_memory);
  if (named != VK_NULL_HANDLE) win32.Free(named);
  fd_side.Free(fd_memory);
  return 0;
}

enum class Kind { kScmRights, kName, kKmt, kScmRightsNotify };
const char* KindName(Kind k) {
  switch (k) {
    case Kind::kScmRights:
      return "scm_rights";
    case Kind::kName:
      return "name";
    case Kind::kKmt:
      return "kmt";
    case Kind::kScmRightsNotify:
      return "scm_rights_notify";
  }
  return "?";
}
bool FdSide(Kind k) { return k == Kind::kScmRights || k == Kind::kScmRightsNotify; }

// One open + free in this process. `s` is the exporter connection (SCM_RIGHTS only). With `state`, the free
// is left out of the timing (open alone).
VkResult OpenOnce(Kind kind, VkSide& vk, int s, const ExporterInfo& info, benchmark::State* state = nullptr) {
  VkResult r = VK_SUCCESS;
  VkDeviceMemory m = VK_NULL_HANDLE;
  switch (kind) {
    case Kind::kScmRights:
    case Kind::kScmRightsNotify: {
      int fd = Handoff(s);
      if (fd < 0) return VK_ERROR_UNKNOWN;  // the handoff itself failed
      m = vk.ImportConsume(fd, kSize, &r);
      if (r != VK_SUCCESS) close(fd);
      break;
    }
    case Kind::kName:
      m = vk.ImportName(info.name, kSize, &r);
      break;
    case Kind::kKmt:
      m = vk.ImportKmt(info.kmt, kSize, &r);
      break;
  }
  if (state != nullptr) state->PauseTiming();
  if (r == VK_SUCCESS) vk.Free(m);
  if (kind == Kind::kScmRightsNotify) {
    const char notice = 'N';
    if (!WriteAll(s, &notice, 1)) r = VK_ERROR_UNKNOWN;
  }
  if (state != nullptr) state->ResumeTiming();
  return r;
}

struct OpenerResult {
  double median_s = 0;
  double total_s = 0;
  int32_t failures = 0;
  int32_t last_error = 0;
};

// --opener <kind> <ready fd> <go fd> <result fd>: one of the 64 processes.
int OpenerMain(Kind kind, int ready, int go, int result, const ExporterInfo& info) {
  VkSide vk(FdSide(kind) ? Side::kFd : Side::kWin32);
  vk.memory_type = info.memory_type;
  int s = FdSide(kind) ? Connect(info.socket_name) : -1;
  char byte = 1;
  WriteAll(ready, &byte, 1);
  read(go, &byte, 1);  // returns 0 when the benchmark closes its end: everyone starts together
  std::vector<double> times;
  OpenerResult out;
  double start = Now();
  for (int i = 0; i < kOpensPerProcess; ++i) {
    double t0 = Now();
    VkResult r = OpenOnce(kind, vk, s, info);
    times.push_back(Now() - t0);
    if (r != VK_SUCCESS) {
      ++out.failures;
      out.last_error = r;
    }
  }
  out.total_s = Now() - start;
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  out.median_s = times[times.size() / 2];
  WriteAll(result, &out, sizeof out);
  if (s >= 0) close(s);
  return 0;
}

ExporterInfo g_info;
int g_exporter_pipe = -1;
pid_t g_exporter = -1;
std::unique_ptr<VkSide> g_sides[2];
int g_socket = -1;

void StartExporter() {
  int report[2];  // a socket pair: the exporter reports on it, and ends when the benchmark writes or closes
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, report) != 0) Die("socketpair");
  fcntl(report[0], F_SETFD, FD_CLOEXEC);
  pid_t pid = fork();
  if (pid == 0) {
    close(report[0]);
    std::string exe = SelfExe(), arg = std::to_string(report[1]);
    execl(exe.c_str(), exe.c_str(), "--exporter", arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(report[1]);
  if (!ReadAll(report[0], &g_info, sizeof g_info)) Die("the exporter did not start");
  g_exporter_pipe = report[0];
  g_exporter = pid;
}

void StopExporter() {
  char q = 'Q';
  WriteAll(g_exporter_pipe, &q, 1);
  close(g_exporter_pipe);
  int status;
  waitpid(g_exporter, &status, 0);
}

bool SkipIfUnavailable(benchmark::State& state, Kind kind) {
  int32_t r = kind == Kind::kName ? g_info.name_result : kind == Kind::kKmt ? g_info.kmt_result : 0;
  if (r == VK_SUCCESS) return false;
  std::string why = std::string("the exporter could not make a ") + (kind == Kind::kName ? "named" : "KMT") +
                    " share (VkResult " + std::to_string(r) +
                    "): is the ntbridged broker built and startable?";
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
  return true;
}

void Open(benchmark::State& state, Kind kind, bool open_only) {
  if (SkipIfUnavailable(state, kind)) return;
  VkSide& vk = *g_sides[FdSide(kind) ? 1 : 0];
  for (auto _ : state) {
    VkResult r = OpenOnce(kind, vk, g_socket, g_info, open_only ? &state : nullptr);
    if (r != VK_SUCCESS) {
      state.SkipWithError(("open failed: VkResult " + std::to_string(r)).c_str());
      break;
    }
  }
}

void Open64(benchmark::State& state, Kind kind) {
  if (SkipIfUnavailable(state, kind)) return;
  for (auto _ : state) {
    int ready[2], go[2], result[2];
    if (pipe(ready) || pipe(go) || pipe(result)) Die("pipe");
    std::vector<pid_t> pids;
    for (int i = 0; i < kProcesses; ++i) {
      pid_t pid = fork();
      if (pid == 0) {
        close(go[1]);
        std::string exe = SelfExe(), k = std::to_string(static_cast<int>(kind)), a = std::to_string(ready[1]),
                    b = std::to_string(go[0]), c = std::to_string(result[1]);
        execl(exe.c_str(), exe.c_str(), "--opener", k.c_str(), a.c_str(), b.c_str(), c.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
      }
      pids.push_back(pid);
    }
    close(ready[1]);
    close(go[0]);
    close(result[1]);
    char byte;
    for (int i = 0; i < kProcesses; ++i) ReadAll(ready[0], &byte, 1);
    double t0 = Now();
    close(go[1]);  // go
    std::vector<double> medians;
    int failures = 0, error = 0;
    for (int i = 0; i < kProcesses; ++i) {
      OpenerResult out;
      if (!ReadAll(result[0], &out, sizeof out)) {
        ++failures;
        continue;
      }
      medians.push_back(out.median_s);
      failures += out.failures;
      if (out.last_error) error = out.last_error;
    }
    double wall = Now() - t0;
    for (pid_t pid : pids) waitpid(pid, nullptr, 0);
    close(ready[0]);
    close(result[0]);
    // A few failed imports are reported, not hidden (lavapipe refuses some under this contention); more
    // than a tenth make the figure meaningless.
    if (failures * 10 > kProcesses * kOpensPerProcess || medians.empty()) {
      state.SkipWithError(
          (std::to_string(failures) + " opens failed, last VkResult " + std::to_string(error)).c_str());
      break;
    }
    state.counters["failed_opens"] = failures;
    state.counters["last_error"] = error;
    std::sort(medians.begin(), medians.end());
    state.SetIterationTime(wall / (kProcesses * kOpensPerProcess));
    state.counters["opens_per_second"] = kProcesses * kOpensPerProcess / wall;
    state.counters["latency_us_median"] = 1e6 * medians[medians.size() / 2];
    state.counters["latency_us_worst_process_median"] = 1e6 * medians.back();
  }
}

}  // namespace
}  // namespace ntbridge::bench

int main(int argc, char** argv) {
  using namespace ntbridge::bench;
  PrepareProcess();
  if (argc == 3 && std::strcmp(argv[1], "--exporter") == 0) return ExporterMain(std::atoi(argv[2]));
  if (argc == 6 && std::strcmp(argv[1], "--opener") == 0) {
    // The exporter's description comes through the environment (set by the benchmark before forking).
    const char* hex = std::getenv("NTBRIDGE_BENCH_EXPORTER");
    if (hex == nullptr || std::strlen(hex) != 2 * sizeof(ExporterInfo))
      Die("--opener needs NTBRIDGE_BENCH_EXPORTER");
    auto* p = reinterpret_cast<unsigned char*>(&g_info);
    for (size_t i = 0; i < sizeof g_info; ++i) std::sscanf(hex + 2 * i, "%2hhx", &p[i]);
    return OpenerMain(static_cast<Kind>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]),
                      std::atoi(argv[5]), g_info);
  }
  benchmark::Initialize(&argc, argv);
  StartExporter();
  {
    std::string hex;
    auto* p = reinterpret_cast<const unsigned char*>(&g_info);
    for (size_t i = 0; i < sizeof g_info; ++i) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", p[i]);
      hex += b;
    }
    setenv("NTBRIDGE_BENCH_EXPORTER", hex.c_str(), 1);
  }
  g_sides[0] = std::make_unique<VkSide>(Side::kWin32);
  g_sides[1] = std::make_unique<VkSide>(Side::kFd);
  for (auto& s : g_sides) s->memory_type = g_info.memory_type;
  g_socket = Connect(g_info.socket_name);
  benchmark::AddCustomContext("vk_device", g_sides[0]->device_name);
  benchmark::AddCustomContext("vk_driver", g_sides[0]->driver_info);
  benchmark::AddCustomContext("machine", MachineDescription());
  benchmark::AddCustomContext("share_size_bytes", std::to_string(kSize));
  for (Kind kind : {Kind::kScmRights, Kind::kName, Kind::kKmt}) {
    benchmark::RegisterBenchmark((std::string("open/") + KindName(kind)).c_str(),
                                 [kind](benchmark::State& s) { Open(s, kind, false); })
        ->UseRealTime()
        ->MinTime(0.2);
    // The import alone (vkFreeMemory outside the timing): where the time of open + free goes.
    benchmark::RegisterBenchmark((std::string("open_only/") + KindName(kind)).c_str(),
                                 [kind](benchmark::State& s) { Open(s, kind, true); })
        ->UseRealTime()
        ->MinTime(0.2);
    benchmark::RegisterBenchmark((std::string("open_64_processes/") + KindName(kind)).c_str(),
                                 [kind](benchmark::State& s) { Open64(s, kind); })
        ->UseManualTime()
        ->Iterations(1);
  }
  benchmark::RegisterBenchmark("open/scm_rights_notify",
                               [](benchmark::State& s) { Open(s, Kind::kScmRightsNotify, false); })
      ->UseRealTime()
      ->MinTime(0.2);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  close(g_socket);
  g_sides[0].reset();
  g_sides[1].reset();
  StopExporter();
  return 0;
}
