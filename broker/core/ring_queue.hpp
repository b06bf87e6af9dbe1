// RingQueue<T>: a FIFO on a power-of-two ring that allocates nothing until the first push and
// frees its storage when it empties. Sessions hold two of these; std::deque would allocate
// ~600 bytes per session up front, which dominates the memory of idle connections.
#pragma once
#include <cstddef>
#include <memory>
#include <utility>

namespace parley::core {

template <class T>
class RingQueue {
 public:
  RingQueue() = default;
  RingQueue(const RingQueue&) = delete;
  RingQueue& operator=(const RingQueue&) = delete;
  ~RingQueue() { clear(); }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  T& front() { return buf_[head_]; }
  T& operator[](size_t i) { return buf_[(head_ + i) & (cap_ - 1)]; }
  const T& operator[](size_t i) const { return buf_[(head_ + i) & (cap_ - 1)]; }

  void push_back(T v) {
    if (size_ == cap_) grow();
    buf_[(head_ + size_) & (cap_ - 1)] = std::move(v);
    ++size_;
  }
  void pop_front() {
    buf_[head_] = T{};  // release what the element holds (shared message bytes)
    head_ = (head_ + 1) & (cap_ - 1);
    if (--size_ == 0) release();
  }
  // Removes element i, keeping the order of the rest (in-flight acks are nearly always i == 0).
  void erase(size_t i) {
    if (i == 0) return pop_front();
    for (size_t k = i; k + 1 < size_; ++k) (*this)[k] = std::move((*this)[k + 1]);
    (*this)[size_ - 1] = T{};
    if (--size_ == 0) release();
  }
  void clear() {
    buf_.reset();
    cap_ = head_ = size_ = 0;
  }

 private:
  void grow() {
    const size_t cap = cap_ ? cap_ * 2 : 4;
    auto next = std::make_unique<T[]>(cap);
    for (size_t i = 0; i < size_; ++i) next[i] = std::move((*this)[i]);
    buf_ = std::move(next);
    cap_ = cap;
    head_ = 0;
  }
  void release() {
    buf_.reset();
    cap_ = head_ = 0;
  }

  std::unique_ptr<T[]> buf_;
  size_t cap_ = 0, head_ = 0, size_ = 0;
};

}  // namespace parley::core
