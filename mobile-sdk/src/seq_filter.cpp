#include "seq_filter.hpp"

namespace parley::sdk {

bool SeqFilter::admit(const Message& m) {
  uint64_t& last = last_[m.conv];
  if (m.seq == 0) {
    // The broker's offset is written lazily, so it may send a notice for a floor this device
    // has already passed; only a floor beyond what we have shown means something was lost.
    return m.system && m.system->event == SystemEvent::HistoryTrimmed &&
           m.system->floor_seq > last + 1;
  }
  if (m.seq <= last) return false;
  last = m.seq;
  return true;
}

uint64_t SeqFilter::last(const std::string& conv) const {
  auto it = last_.find(conv);
  return it == last_.end() ? 0 : it->second;
}

}  // namespace parley::sdk
