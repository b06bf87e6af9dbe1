// Dispatcher: the SDK's callback thread. Paho's threads and the app's calling threads post
// tasks here, and this one thread runs them in order: every app handler and completion, the
// outbox flushes (so publishes leave in the order they were queued) and the timers (rpc
// timeouts, seq look-ups). One thread gives the app a simple rule — callbacks never overlap and
// arrive in event order — and keeps Paho's network threads free of app code.
//
// Ownership: owned by ChatClient::Impl. stop() (or the destructor) runs every task queued so
// far, drops pending timers and joins; tasks posted after that are dropped.
// Threading: post()/postAt() from any thread; stop() from any thread but this one.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace parley::sdk {

class Dispatcher {
 public:
  using Task = std::function<void()>;
  using Clock = std::chrono::steady_clock;

  Dispatcher();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void post(Task task);
  // Runs `task` on the thread at or after `when` (unless stopped first).
  void postAt(Clock::time_point when, Task task);
  void stop();
  bool onThread() const { return std::this_thread::get_id() == thread_id_.load(); }

 private:
  void run();
  static void runTask(Task& task);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  std::multimap<Clock::time_point, Task> timers_;
  bool stopping_ = false;
  std::atomic<std::thread::id> thread_id_{};  // set by the thread itself (join() races get_id)
  std::thread thread_;
};

}  // namespace parley::sdk
