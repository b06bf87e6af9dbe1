// Report: the result of one benchmark run as an ordered list of named values. It prints as one
// flat JSON object on a single line (for scripts such as compare.sh) and as a short human
// summary. Flat on purpose: every field can be picked out with a one-line awk or jq filter.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "histogram.hpp"

namespace parley::bench {

class Report {
 public:
  void set(const std::string& key, double value);
  void set(const std::string& key, const std::string& value);
  void setInt(const std::string& key, int64_t value);
  // Adds <prefix>_p50_us, _p99_us, _p999_us, _max_us, _mean_us and _count from a histogram of ns.
  void latency(const std::string& prefix, const LatencyHistogram& h);

  void printJson(std::ostream& out) const;
  void printHuman(std::ostream& out) const;

 private:
  struct Field {
    std::string key;
    std::string json;     // already encoded
    std::string display;  // for people: text unquoted
  };
  void put(const std::string& key, std::string json, std::string display);
  std::vector<Field> fields_;
};

}  // namespace parley::bench
