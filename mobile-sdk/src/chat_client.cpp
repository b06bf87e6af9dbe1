// ChatClient's public surface: forwards to Impl, and turns completions into futures for the
// shortcuts (a promise completed on the callback thread).
#include "parley/sdk/chat_client.hpp"

#include "client_impl.hpp"

namespace parley::sdk {

namespace {

template <class T>
std::pair<Completion<T>, std::future<Result<T>>> promised() {
  auto p = std::make_shared<std::promise<Result<T>>>();
  auto f = p->get_future();
  return {[p](Result<T> r) { p->set_value(std::move(r)); }, std::move(f)};
}

}  // namespace

const char* errorCodeName(ErrorCode c) {
  switch (c) {
    case ErrorCode::InvalidArgument:
      return "InvalidArgument";
    case ErrorCode::NotAuthorized:
      return "NotAuthorized";
    case ErrorCode::InvalidPayload:
      return "InvalidPayload";
    case ErrorCode::ServerUnavailable:
      return "ServerUnavailable";
    case ErrorCode::QuotaExceeded:
      return "QuotaExceeded";
    case ErrorCode::Refused:
      return "Refused";
    case ErrorCode::NotFound:
      return "NotFound";
    case ErrorCode::BadRequest:
      return "BadRequest";
    case ErrorCode::Timeout:
      return "Timeout";
    case ErrorCode::ConnectFailed:
      return "ConnectFailed";
    case ErrorCode::Protocol:
      return "Protocol";
    case ErrorCode::Closed:
      return "Closed";
  }
  return "Unknown";
}

ChatClient::ChatClient(ClientOptions options, Handlers handlers)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers))) {}

ChatClient::~ChatClient() = default;

void ChatClient::connect(Completion<ConnectInfo> done) {
  impl_->connect(std::move(done));
}
void ChatClient::disconnect(Completion<void> done) {
  impl_->disconnect(std::move(done));
}
bool ChatClient::connected() const {
  return impl_->connected();
}
void ChatClient::setPassword(std::string password) {
  impl_->setPassword(std::move(password));
}

void ChatClient::send(OutgoingMessage msg, Completion<SendReceipt> done) {
  impl_->send(std::move(msg), std::move(done));
}
void ChatClient::history(const std::string& conv, uint64_t before_seq, uint32_t limit,
                         Completion<HistoryPage> done) {
  impl_->history(conv, before_seq, limit, std::move(done));
}
void ChatClient::conversations(const std::string& after, uint32_t limit,
                               Completion<ConversationPage> done) {
  impl_->conversations(after, limit, std::move(done));
}
void ChatClient::receipts(const std::string& conv, Completion<Receipts> done) {
  impl_->receipts(conv, std::move(done));
}
void ChatClient::markRead(const std::string& conv, uint64_t seq, Completion<void> done) {
  impl_->markRead(conv, seq, std::move(done));
}
void ChatClient::typing(const std::string& conv, bool typing) {
  impl_->typing(conv, typing);
}
void ChatClient::subscribePresence(const std::string& user, Completion<void> done) {
  impl_->subscribePresence(user, std::move(done));
}
void ChatClient::unsubscribePresence(const std::string& user) {
  impl_->unsubscribePresence(user);
}
void ChatClient::setLastSeq(const std::string& conv, uint64_t seq) {
  impl_->setLastSeq(conv, seq);
}
uint64_t ChatClient::lastSeq(const std::string& conv) const {
  return impl_->lastSeq(conv);
}

std::future<Result<ConnectInfo>> ChatClient::connect() {
  auto [done, f] = promised<ConnectInfo>();
  connect(std::move(done));
  return std::move(f);
}

std::future<Result<void>> ChatClient::disconnect() {
  auto [done, f] = promised<void>();
  disconnect(std::move(done));
  return std::move(f);
}

std::future<Result<SendReceipt>> ChatClient::send(OutgoingMessage msg) {
  auto [done, f] = promised<SendReceipt>();
  send(std::move(msg), std::move(done));
  return std::move(f);
}

std::future<Result<SendReceipt>> ChatClient::send(const std::string& conv, const std::string& body,
                                                  MessageKind kind) {
  OutgoingMessage m;
  m.conv = conv;
  m.body = body;
  m.kind = kind;
  return send(std::move(m));
}

std::future<Result<HistoryPage>> ChatClient::history(const std::string& conv, uint64_t before_seq,
                                                     uint32_t limit) {
  auto [done, f] = promised<HistoryPage>();
  history(conv, before_seq, limit, std::move(done));
  return std::move(f);
}

std::future<Result<ConversationPage>> ChatClient::conversations(const std::string& after,
                                                                uint32_t limit) {
  auto [done, f] = promised<ConversationPage>();
  conversations(after, limit, std::move(done));
  return std::move(f);
}

std::future<Result<Receipts>> ChatClient::receipts(const std::string& conv) {
  auto [done, f] = promised<Receipts>();
  receipts(conv, std::move(done));
  return std::move(f);
}

std::future<Result<void>> ChatClient::markRead(const std::string& conv, uint64_t seq) {
  auto [done, f] = promised<void>();
  markRead(conv, seq, std::move(done));
  return std::move(f);
}

std::future<Result<void>> ChatClient::subscribePresence(const std::string& user) {
  auto [done, f] = promised<void>();
  subscribePresence(user, std::move(done));
  return std::move(f);
}

}  // namespace parley::sdk
