// KMT (global share) values: nonzero 32-bit, never issued twice, not even by a later broker after a crash.
// A counter runs through a keyed 32-bit permutation (so values are unique yet not guessable in sequence);
// the counter is reserved in blocks in a state file in the broker's private folder before any value of a
// block is handed out, so a new broker starts past everything an old one may have issued.
#pragma once

#include <cstdint>
#include <string>

namespace ntbridge::broker {

class KmtValues {
 public:
  // Loads (or creates) the state file; false with `error` when it cannot be written.
  bool Open(const std::string& state_path, std::string* error);
  // The next value, or 0 when none is left or the state file cannot be updated.
  uint32_t Next();
  // How many brokers have used this state file, this one included.
  uint32_t generation() const { return generation_; }

  // The permutation, exposed for tests: a bijection of 32-bit values for a given key.
  static uint32_t Permute(uint32_t counter, uint64_t key);

 private:
  bool Reserve();

  std::string path_;
  uint32_t generation_ = 0;
  uint64_t key_ = 0;
  uint64_t counter_ = 0;   // next counter to use
  uint64_t reserved_ = 0;  // counters below this are recorded as possibly issued
};

}  // namespace ntbridge::broker
