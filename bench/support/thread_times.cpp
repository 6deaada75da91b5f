#include "thread_times.hpp"

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

namespace ntbridge::bench {

ThreadTimes ThreadTimes::Take() {
  ThreadTimes t;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return t;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    Thread th;
    th.tid = std::atoi(e->d_name);
    const std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream(base + "/schedstat") >> th.cpu_ns >> th.wait_ns;
    std::getline(std::ifstream(base + "/comm"), th.comm);
    t.threads.push_back(std::move(th));
  }
  closedir(dir);
  return t;
}

void ReportThreadTimes(benchmark::State& state, const ThreadTimes& before, const ThreadTimes& after, int ops,
                       const std::string& what) {
  std::map<int, const ThreadTimes::Thread*> old;
  for (const auto& t : before.threads) old[t.tid] = &t;
  double cpu = 0, wait = 0;
  std::string lines;
  for (const auto& t : after.threads) {
    auto it = old.find(t.tid);
    const double c = static_cast<double>(t.cpu_ns - (it != old.end() ? it->second->cpu_ns : 0)) / ops;
    const double w = static_cast<double>(t.wait_ns - (it != old.end() ? it->second->wait_ns : 0)) / ops;
    cpu += c;
    wait += w;
    if (c + w >= 50) {
      char line[160];
      std::snprintf(line, sizeof line, "  thread %d %-16s cpu %8.2f us/op  runqueue %8.2f us/op\n", t.tid,
                    t.comm.c_str(), c * 1e-3, w * 1e-3);
      lines += line;
    }
  }
  state.counters["cpu_us_per_op"] = cpu * 1e-3;
  state.counters["runqueue_us_per_op"] = wait * 1e-3;
  if (std::getenv("NTBRIDGE_BENCH_THREADS") != nullptr) {
    std::fprintf(stderr, "%s (%d ops):\n%s", what.c_str(), ops, lines.c_str());
  }
}

}  // namespace ntbridge::bench
