#include "kmt_values.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ntbridge::broker {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kCounterLimit = uint64_t{1} << 32;

uint64_t RandomKey() {
  uint64_t key = 0;
  if (getrandom(&key, sizeof key, 0) != sizeof key) {
    key = static_cast<uint64_t>(getpid()) * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(time(nullptr));
  }
  return key;
}

bool WriteFileAtomically(const std::string& path, const std::string& text, std::string* error) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = "cannot write " + tmp + ": " + std::strerror(errno);
    return false;
  }
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot update " + path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

uint32_t KmtValues::Permute(uint32_t counter, uint64_t key) {
  // A 4-round Feistel network on 16-bit halves: a bijection for every key.
  uint16_t left = static_cast<uint16_t>(counter >> 16);
  uint16_t right = static_cast<uint16_t>(counter);
  for (int round = 0; round < 4; ++round) {
    uint32_t k = static_cast<uint32_t>(key >> (16 * round)) & 0xFFFF;
    uint32_t f = (static_cast<uint32_t>(right) ^ k) * 0x9E3779B1u;
    f ^= f >> 15;
    uint16_t next = static_cast<uint16_t>(left ^ static_cast<uint16_t>(f));
    left = right;
    right = next;
  }
  return (static_cast<uint32_t>(left) << 16) | right;
}

bool KmtValues::Open(const std::string& state_path, std::string* error) {
  path_ = state_path;
  FILE* f = std::fopen(path_.c_str(), "re");
  unsigned generation = 0;
  uint64_t key = 0, reserved = 0;
  bool loaded = false;
  if (f != nullptr) {
    loaded = std::fscanf(f, "ntbridge-kmt 1 %u %" SCNu64 " %" SCNu64, &generation, &key, &reserved) == 3;
    std::fclose(f);
  }
  if (!loaded) {
    generation = 0;
    key = RandomKey();
    reserved = 1;  // counter 0 is skipped so that the first value is not Permute(0)
  }
  generation_ = generation + 1;
  key_ = key;
  counter_ = reserved;  // everything below may have been issued by an earlier broker
  reserved_ = counter_;
  if (!Reserve()) {
    *error = "cannot record KMT values in " + path_;
    return false;
  }
  return true;
}

bool KmtValues::Reserve() {
  uint64_t limit = std::min(counter_ + kBlock, kCounterLimit);
  char text[128];
  std::snprintf(text, sizeof text, "ntbridge-kmt 1 %u %" PRIu64 " %" PRIu64 "\n", generation_, key_, limit);
  std::string error;
  if (!WriteFileAtomically(path_, text, &error)) return false;
  reserved_ = limit;
  return true;
}

uint32_t KmtValues::Next() {
  for (;;) {
    if (counter_ >= kCounterLimit) return 0;
    if (counter_ >= reserved_ && !Reserve()) return 0;
    uint32_t value = Permute(static_cast<uint32_t>(counter_++), key_);
    if (value != 0) return value;
  }
}

}  // namespace ntbridge::broker
