// ChatRpc (chat_rpc.hpp). History pages embed the stored ChatMessage bytes unchanged
// (StoredChatMessage.bytes, a nested flatbuffer), so a page costs one log scan and copies.
#include "chat_rpc.hpp"

#include <algorithm>

#include "chat_generated.h"
#include "envelope.hpp"

namespace parley::chat {
namespace {

template <class T>
const T* verified(std::string_view payload, std::string& scratch) {
  scratch.assign(payload.data(), payload.size());
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(scratch.data()), scratch.size());
  if (scratch.empty() || !v.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(scratch.data());
}

std::string finish(flatbuffers::FlatBufferBuilder& b) {
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}

RpcReply fail(fb::RpcErrorCode code, std::string_view message) {
  return RpcReply{false, encodeRpcError(static_cast<uint8_t>(code), message)};
}

}  // namespace

std::string encodeRpcError(uint8_t code, std::string_view message) {
  flatbuffers::FlatBufferBuilder b(64 + message.size());
  auto text = b.CreateString(message.data(), message.size());
  b.Finish(fb::CreateRpcError(b, static_cast<fb::RpcErrorCode>(code), text));
  return finish(b);
}

RpcReply ChatRpc::history(std::string_view user, std::string_view request) {
  std::string scratch;
  const auto* req = verified<fb::HistoryRequest>(request, scratch);
  if (req == nullptr) return fail(fb::RpcErrorCode::BadRequest, "not a HistoryRequest");
  const std::string conv = req->conv() ? req->conv()->str() : std::string();
  if (!validConversationId(conv)) return fail(fb::RpcErrorCode::NotFound, "no such conversation");
  if (!chat_.loadMember(conv, user)) {
    if (!chat_.loadConversation(conv)) {
      return fail(fb::RpcErrorCode::NotFound, "no such conversation");
    }
    return fail(fb::RpcErrorCode::NotMember, "not a member of this conversation");
  }
  uint32_t limit = req->limit();
  if (limit == 0) limit = kDefaultHistoryLimit;
  limit = std::min(limit, kMaxHistoryLimit);

  const auto records = chat_.loadChatLogBefore(conv, req->before_seq(), limit);
  const uint64_t head = chat_.loadChatHead(conv);
  const uint64_t floor = chat_.loadChatFloor(conv);
  size_t bytes = 0;
  for (const auto& r : records) bytes += r.envelope.size() + 16;
  flatbuffers::FlatBufferBuilder b(256 + bytes);
  std::vector<flatbuffers::Offset<fb::StoredChatMessage>> items;
  items.reserve(records.size());
  for (const auto& r : records) {
    auto v = b.CreateVector(reinterpret_cast<const uint8_t*>(r.envelope.data()), r.envelope.size());
    items.push_back(fb::CreateStoredChatMessage(b, v));
  }
  auto conv_off = b.CreateString(conv);
  auto list = b.CreateVector(items);
  const bool has_more = !records.empty() && records.front().seq > floor;
  b.Finish(fb::CreateHistoryResponse(b, conv_off, list, head, floor, has_more));
  return RpcReply{true, finish(b)};
}

// Messages after `read` up to `head` that `user` did not send (system records excluded). Exact
// for the first kMaxUnreadScan records; anything beyond is counted as unread without a look.
uint64_t ChatRpc::unread(std::string_view conv, std::string_view user, uint64_t read,
                         uint64_t head) {
  constexpr size_t kMaxUnreadScan = 10000, kPage = 1000;
  uint64_t n = 0, from = read + 1;
  for (size_t scanned = 0; from <= head && scanned < kMaxUnreadScan;) {
    auto page = chat_.loadChatLog(conv, from, kPage);
    for (const auto& r : page) {
      if (r.seq > head) break;
      if (r.sender_user != user && r.kind != static_cast<uint8_t>(fb::Kind::System)) ++n;
      from = r.seq + 1;
      ++scanned;
    }
    if (page.size() < kPage) {
      from = head + 1;  // trimmed or not there: nothing more to count
      break;
    }
  }
  if (from <= head) n += head - from + 1;
  return n;
}

RpcReply ChatRpc::receipts(std::string_view user, std::string_view request) {
  std::string scratch;
  const auto* req = verified<fb::ReceiptsRequest>(request, scratch);
  if (req == nullptr || req->conv() == nullptr)
    return fail(fb::RpcErrorCode::BadRequest, "not a ReceiptsRequest");
  const std::string conv = req->conv()->str();
  if (!chat_.loadMember(conv, user)) {
    if (!chat_.loadConversation(conv))
      return fail(fb::RpcErrorCode::NotFound, "no such conversation");
    return fail(fb::RpcErrorCode::NotMember, "not a member of this conversation");
  }
  ReceiptsInfo info;
  info.conv = conv;
  for (std::string after;;) {
    auto page = chat_.loadChatCursors(conv, after, 1000);
    for (auto& c : page) info.cursors.push_back({c.user, c.delivered, c.read});
    if (page.size() < 1000 || info.cursors.size() >= kMaxReceiptsMembers) break;
    after = page.back().user;
  }
  return RpcReply{true, encodeReceipts(info)};
}

RpcReply ChatRpc::conversations(std::string_view user, std::string_view client_id,
                                std::string_view request) {
  std::string after;
  uint32_t limit = 100;
  if (!request.empty()) {
    std::string scratch;
    const auto* req = verified<fb::ConversationsRequest>(request, scratch);
    if (req == nullptr) return fail(fb::RpcErrorCode::BadRequest, "not a ConversationsRequest");
    if (req->after()) after = req->after()->str();
    limit = req->limit() == 0 ? 100 : std::min(req->limit(), kMaxConversationsLimit);
  }
  const auto page = chat_.loadUserConversations(user, after, limit);
  flatbuffers::FlatBufferBuilder b(256 + page.size() * 96);
  std::vector<flatbuffers::Offset<fb::ConversationSummary>> items;
  items.reserve(page.size());
  for (const auto& uc : page) {
    const auto c = chat_.loadConversation(uc.conv);
    if (!c) continue;  // index entry of a conversation being created; skip
    auto id = b.CreateString(uc.conv);
    auto title =
        c->title.empty() ? flatbuffers::Offset<flatbuffers::String>() : b.CreateString(c->title);
    const uint64_t head = chat_.loadChatHead(uc.conv);
    uint64_t read = 0;
    if (read_cursor_) {
      read = read_cursor_(uc.conv, user);
    } else if (const auto cursor = chat_.loadChatCursor(uc.conv, user)) {
      read = cursor->read;
    }
    items.push_back(fb::CreateConversationSummary(
        b, id, static_cast<fb::ConversationKind>(c->kind), title, static_cast<fb::Role>(uc.role),
        head, chat_.loadChatFloor(uc.conv), chat_.loadChatOffset(client_id, uc.conv).value_or(0),
        c->member_count, read, unread(uc.conv, user, read, head)));
  }
  auto list = b.CreateVector(items);
  auto next = page.size() == limit && !page.empty() ? b.CreateString(page.back().conv)
                                                    : flatbuffers::Offset<flatbuffers::String>();
  b.Finish(fb::CreateConversationsResponse(b, list, next));
  return RpcReply{true, finish(b)};
}

}  // namespace parley::chat
