#include "relay.hpp"

#include <boost/asio/post.hpp>

#include "server.hpp"

namespace parley::net {

RelayEndpoint::RelayEndpoint(Server& server, size_t home, PeerInfo info,
                             std::shared_ptr<RelayIo> io, size_t io_thread)
    : Endpoint(server, home, std::move(info), ConnectionSlot{}),
      io_(std::move(io)),
      io_thread_(io_thread) {}

void RelayEndpoint::start(std::vector<uint8_t> pending) {
  armConnectTimer();
  startProtocol(std::move(pending));
}

void RelayEndpoint::relayWritten(bool ok, mqtt::Buffer buf) {
  writing_ = std::move(buf);  // keep its capacity
  onWritten(ok);
}

void RelayEndpoint::ioLost() {
  io_.reset();
  lost();
}

void RelayEndpoint::startWrite() {
  // The stream side is only touched on its own thread; the weak pointer is checked there.
  boost::asio::post(server_.context(io_thread_), [io = io_, buf = std::move(writing_)]() mutable {
    if (auto s = io.lock()) s->relayWrite(std::move(buf));
  });
}

void RelayEndpoint::shutdownStream() {
  boost::asio::post(server_.context(io_thread_), [io = std::move(io_)] {
    if (auto s = io.lock()) s->relayClose();
  });
  io_.reset();
}

void RelayEndpoint::moveTo(size_t, std::vector<uint8_t>) {
  // Unreachable: a relay endpoint is created on its session's home thread.
  close();
}

}  // namespace parley::net
