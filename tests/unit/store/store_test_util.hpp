// Helpers shared by the store tests: a temporary directory that removes itself, and a commit
// that waits for its completion.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>

#include "store.hpp"

namespace parley::store::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "parley-store-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::unique_ptr<Store> openStore(const std::string& path,
                                        Durability durability = Durability::Sync,
                                        uint32_t batched_flush_ms = 10) {
  StoreOptions o;
  o.path = path;
  o.durability = durability;
  o.batched_flush_ms = batched_flush_ms;
  o.block_cache_mb = 8;
  return openRocksDbStore(o);
}

// Commits and blocks until the completion ran; returns its result.
inline CommitResult commitAndWait(Store& store, WriteSet writes) {
  std::promise<CommitResult> promise;
  auto future = promise.get_future();
  store.commit(std::move(writes), [&promise](const CommitResult& r) { promise.set_value(r); });
  return future.get();
}

inline Message makeMessage(std::string topic, std::string payload, uint64_t id = 0) {
  Message m;
  m.id = id;
  m.topic = std::move(topic);
  m.payload = std::move(payload);
  m.qos = 1;
  return m;
}

}  // namespace parley::store::test
