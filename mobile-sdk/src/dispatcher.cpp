#include "dispatcher.hpp"

#include <cstdio>
#include <exception>

namespace parley::sdk {

Dispatcher::Dispatcher() : thread_([this] { run(); }) {}

Dispatcher::~Dispatcher() {
  stop();
}

void Dispatcher::post(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !onThread()) return;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void Dispatcher::postAt(Clock::time_point when, Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    timers_.emplace(when, std::move(task));
  }
  cv_.notify_one();
}

void Dispatcher::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    timers_.clear();
  }
  cv_.notify_one();
  if (thread_.joinable() && !onThread()) thread_.join();
}

void Dispatcher::runTask(Task& task) {
  // An exception cannot travel back to whoever posted the task; losing it silently would hide
  // an app bug, so say so once per occurrence and keep the thread alive for the next event.
  try {
    task();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parley sdk: a callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "parley sdk: a callback threw a non-standard exception\n");
  }
}

void Dispatcher::run() {
  thread_id_ = std::this_thread::get_id();
  std::unique_lock lock(mu_);
  for (;;) {
    if (!queue_.empty()) {
      Task t = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      runTask(t);
      lock.lock();
      continue;
    }
    if (stopping_) return;  // queue drained; timers were dropped by stop()
    if (!timers_.empty()) {
      auto first = timers_.begin();
      if (first->first <= Clock::now()) {
        Task t = std::move(first->second);
        timers_.erase(first);
        lock.unlock();
        runTask(t);
        lock.lock();
        continue;
      }
      // A copy: while waiting, postAt() or stop() may erase the node that holds the key.
      const Clock::time_point when = first->first;
      cv_.wait_until(lock, when);
    } else {
      cv_.wait(lock);
    }
  }
}

}  // namespace parley::sdk
