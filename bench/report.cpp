#include "report.hpp"

#include <cmath>
#include <cstdio>

namespace parley::bench {

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

void Report::put(const std::string& key, std::string json, std::string display) {
  for (auto& f : fields_) {
    if (f.key == key) {
      f.json = std::move(json);
      f.display = std::move(display);
      return;
    }
  }
  fields_.push_back({key, std::move(json), std::move(display)});
}

void Report::set(const std::string& key, double value) {
  if (!std::isfinite(value)) return put(key, "null", "null");
  char buf[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", value);
  }
  put(key, buf, buf);
}

void Report::set(const std::string& key, const std::string& value) {
  put(key, quote(value), value);
}

void Report::setInt(const std::string& key, int64_t value) {
  put(key, std::to_string(value), std::to_string(value));
}

void Report::latency(const std::string& prefix, const LatencyHistogram& h) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  setInt(prefix + "_count", static_cast<int64_t>(h.count()));
  set(prefix + "_p50_us", us(h.quantile(0.50)));
  set(prefix + "_p99_us", us(h.quantile(0.99)));
  set(prefix + "_p999_us", us(h.quantile(0.999)));
  set(prefix + "_max_us", us(h.max()));
  set(prefix + "_mean_us", h.mean() / 1000.0);
}

void Report::printJson(std::ostream& out) const {
  out << '{';
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (i) out << ',';
    out << quote(fields_[i].key) << ':' << fields_[i].json;
  }
  out << "}\n";
}

void Report::printHuman(std::ostream& out) const {
  // The one-line summary first, then every field as key=value, wrapped at 100 columns.
  for (const auto& f : fields_)
    if (f.key == "summary") out << "  " << f.display << '\n';
  std::string line = " ";
  for (const auto& f : fields_) {
    if (f.key == "summary") continue;
    std::string item(1, ' ');
    item.append(f.key).append(1, '=').append(f.display);
    if (line.size() + item.size() > 100) {
      out << line << '\n';
      line.assign(1, ' ');
    }
    line += item;
  }
  if (line.size() > 1) out << line << '\n';
}

}  // namespace parley::bench
