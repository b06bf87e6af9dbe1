// MQTT 5.0 features: message expiry, topic aliases in both directions, subscription
// identifiers, no-local, shared subscriptions, pass-through of user properties / content type /
// response topic / correlation data / payload format, and reason strings.
#include <map>

#include "itest.hpp"

namespace itest {
namespace {

// A connected raw 5.0 client.
std::unique_ptr<RawClient> v5(uint16_t port, const std::string& id, Props props = {},
                              bool clean = true) {
  auto c = std::make_unique<RawClient>(port, 5);
  ConnectSpec s = cs(5, id);
  s.clean = clean;
  s.props = std::move(props);
  auto ack = c->connect(s);
  EXPECT_TRUE(ack) << "no CONNACK";
  if (ack) {
    EXPECT_EQ(ack->code, 0);
  }
  return c;
}

// ---- message expiry ----

TEST(MessageExpiry, ExpiredQueuedMessageNotDeliveredAndRemainingIntervalDecremented) {
  BrokerProcess broker;
  const std::string id = uid("mx");
  {
    auto c = v5(broker.port(), id, Props().u32(P_SESSION_EXPIRY, 300), false);
    ASSERT_TRUE(c->subscribe(1, {{"mx/t", 1}}));
    c->send(disconnectPacket(5));
    ASSERT_TRUE(c->waitClosed(5s));
  }
  auto pub = v5(broker.port(), uid("p"));
  pub->send(publishPacket(5, "mx/t", "short", 1, 1, false, Props().u32(P_MESSAGE_EXPIRY, 1)));
  pub->send(publishPacket(5, "mx/t", "long", 1, 2, false, Props().u32(P_MESSAGE_EXPIRY, 60)));
  pub->send(publishPacket(5, "mx/t", "forever", 1, 3));
  for (int i = 0; i < 3; ++i) {
    auto p = pub->read();
    ASSERT_TRUE(p && p->type == PUBACK);
  }
  // Let the 1 s message expire while queued (the expiry is the condition; nothing to poll).
  std::this_thread::sleep_for(2200ms);
  auto c = v5(broker.port(), id, Props().u32(P_SESSION_EXPIRY, 300), false);
  std::vector<PublishIn> got;
  while (auto m = c->nextPublish(1s)) {
    c->send(ackPacket(PUBACK, m->id, 5));
    got.push_back(*m);
  }
  ASSERT_EQ(got.size(), 2u) << "expected only 'long' and 'forever'";
  EXPECT_EQ(got[0].payload, "long");
  auto left = got[0].props.getInt(P_MESSAGE_EXPIRY);
  ASSERT_TRUE(left) << "forwarded message must carry the remaining expiry interval";
  EXPECT_LE(*left, 59u) << "expiry interval not decremented by the time spent queued";
  EXPECT_GE(*left, 50u);
  EXPECT_EQ(got[1].payload, "forever");
  EXPECT_FALSE(got[1].props.getInt(P_MESSAGE_EXPIRY)) << "no expiry was set";
}

TEST(MessageExpiry, ExpiredRetainedMessageNotDelivered) {
  BrokerProcess broker;
  auto pub = v5(broker.port(), uid("p"));
  pub->send(publishPacket(5, "mxr/a", "short", 1, 1, true, Props().u32(P_MESSAGE_EXPIRY, 1)));
  pub->send(publishPacket(5, "mxr/b", "long", 1, 2, true, Props().u32(P_MESSAGE_EXPIRY, 100)));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(pub->read());
  std::this_thread::sleep_for(2200ms);  // the expiry itself
  auto c = v5(broker.port(), uid("s"));
  ASSERT_TRUE(c->subscribe(1, {{"mxr/#", 1}}));
  auto m = c->nextPublish(3s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topic, "mxr/b");
  EXPECT_FALSE(c->nextPublish(400ms)) << "expired retained message delivered";
}

// ---- topic aliases ----

TEST(TopicAlias, ClientToBrokerAliasResolved) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"));
  ASSERT_TRUE(sub->subscribe(1, {{"ta/#", 0}}));
  RawClient pub(broker.port(), 5);
  auto ack = pub.connect(cs(5, uid("p")));
  ASSERT_TRUE(ack);
  auto max = ack->props.getInt(P_TOPIC_ALIAS_MAXIMUM);
  ASSERT_TRUE(max && *max >= 1) << "broker advertises no topic aliases";
  pub.send(publishPacket(5, "ta/long/topic", "1", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 1)));
  pub.send(publishPacket(5, "", "2", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 1)));
  // Re-map alias 1 to another topic.
  pub.send(publishPacket(5, "ta/other", "3", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 1)));
  pub.send(publishPacket(5, "", "4", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 1)));
  std::vector<std::pair<std::string, std::string>> got;
  for (int i = 0; i < 4; ++i) {
    auto m = sub->nextPublish();
    ASSERT_TRUE(m);
    got.emplace_back(m->topic, m->payload);
    EXPECT_FALSE(m->props.getInt(P_TOPIC_ALIAS)) << "subscriber allowed no aliases";
  }
  EXPECT_EQ(
      got,
      (std::vector<std::pair<std::string, std::string>>{
          {"ta/long/topic", "1"}, {"ta/long/topic", "2"}, {"ta/other", "3"}, {"ta/other", "4"}}));
}

TEST(TopicAlias, AliasAboveMaximumDisconnects0x94) {
  BrokerProcess broker;
  RawClient pub(broker.port(), 5);
  auto ack = pub.connect(cs(5, uid("p")));
  ASSERT_TRUE(ack);
  const uint32_t max = ack->props.getInt(P_TOPIC_ALIAS_MAXIMUM).value_or(0);
  pub.send(publishPacket(5, "ta/x", "1", 0, 0, false,
                         Props().u16(P_TOPIC_ALIAS, static_cast<uint16_t>(max + 1))));
  std::vector<Packet> seen;
  EXPECT_TRUE(pub.waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty()) << "DISCONNECT 0x94 expected";
  ASSERT_EQ(seen.back().type, DISCONNECT);
  EXPECT_EQ(parseDisconnect(seen.back()).reason, 0x94);
}

TEST(TopicAlias, AliasZeroDisconnects0x94) {
  BrokerProcess broker;
  auto pub = v5(broker.port(), uid("p"));
  pub->send(publishPacket(5, "ta/x", "1", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 0)));
  std::vector<Packet> seen;
  EXPECT_TRUE(pub->waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().type, DISCONNECT);
  const auto r = parseDisconnect(seen.back()).reason;
  EXPECT_TRUE(r == 0x94 || r == 0x82)
      << "alias 0: Topic Alias invalid or Protocol Error, got " << int(r);
}

TEST(TopicAlias, UnknownAliasWithEmptyTopicIsProtocolError) {
  BrokerProcess broker;
  auto pub = v5(broker.port(), uid("p"));
  pub->send(publishPacket(5, "", "1", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 1)));
  std::vector<Packet> seen;
  EXPECT_TRUE(pub->waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().type, DISCONNECT);
  EXPECT_EQ(parseDisconnect(seen.back()).reason, 0x82);
}

TEST(TopicAlias, BrokerUsesNoAliasesWhenClientAllowsNone) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"));  // no Topic Alias Maximum: 0
  ASSERT_TRUE(sub->subscribe(1, {{"noalias/t", 0}}));
  auto pub = v5(broker.port(), uid("p"));
  for (int i = 0; i < 5; ++i) pub->send(publishPacket(5, "noalias/t", std::to_string(i), 0));
  for (int i = 0; i < 5; ++i) {
    auto m = sub->nextPublish();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, "noalias/t");
    EXPECT_FALSE(m->props.getInt(P_TOPIC_ALIAS));
  }
}

TEST(TopicAlias, BrokerAliasesStayWithinClientMaximum) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"), Props().u16(P_TOPIC_ALIAS_MAXIMUM, 2));
  ASSERT_TRUE(sub->subscribe(1, {{"al/#", 0}}));
  auto pub = v5(broker.port(), uid("p"));
  std::vector<std::string> sent;
  for (int i = 0; i < 12; ++i) sent.push_back("al/topic/" + std::to_string(i % 4));
  for (auto& t : sent) pub->send(publishPacket(5, t, t, 0));
  std::map<uint32_t, std::string> aliases;
  bool used = false;
  for (auto& expect : sent) {
    auto m = sub->nextPublish();
    ASSERT_TRUE(m);
    std::string topic = m->topic;
    if (auto a = m->props.getInt(P_TOPIC_ALIAS)) {
      used = true;
      ASSERT_GE(*a, 1u);
      ASSERT_LE(*a, 2u) << "alias above the client's Topic Alias Maximum";
      if (topic.empty()) {
        ASSERT_TRUE(aliases.count(*a)) << "alias used before it was established";
        topic = aliases[*a];
      } else {
        aliases[*a] = topic;
      }
    }
    EXPECT_EQ(topic, expect);
    EXPECT_EQ(m->payload, expect);
  }
  RecordProperty("broker_used_aliases", used ? "yes" : "no");
}

// ---- subscription identifiers, no-local ----

TEST(SubscriptionIdentifier, DeliveredWithMatchingMessages) {
  BrokerProcess broker;
  auto c = v5(broker.port(), uid("c"));
  ASSERT_TRUE(c->subscribe(1, {{"sid/#", 1}}, Props().varint(P_SUBSCRIPTION_ID, 42)));
  ASSERT_TRUE(c->subscribe(2, {{"sid/+/x", 1}}, Props().varint(P_SUBSCRIPTION_ID, 300000)));
  ASSERT_TRUE(c->subscribe(3, {{"sid/plain", 0}}));  // no identifier
  auto pub = v5(broker.port(), uid("p"));
  pub->send(publishPacket(5, "sid/a/x", "both", 0));
  pub->send(publishPacket(5, "sid/b", "one", 0));
  pub->send(publishPacket(5, "sid/end", "end", 0));
  std::set<uint32_t> ids_both;
  for (;;) {
    auto m = c->nextPublish();
    ASSERT_TRUE(m);
    if (m->payload == "both") {
      for (auto id : m->props.allInts(P_SUBSCRIPTION_ID)) ids_both.insert(id);
      continue;
    }
    if (m->payload == "one") {
      EXPECT_EQ(m->props.allInts(P_SUBSCRIPTION_ID), std::vector<uint32_t>{42});
      continue;
    }
    ASSERT_EQ(m->payload, "end");
    break;
  }
  EXPECT_EQ(ids_both, (std::set<uint32_t>{42, 300000}))
      << "a message matching two subscriptions carries both identifiers (in one or two copies)";
}

TEST(SubscriptionIdentifier, AbsentForSubscriptionWithoutIdentifier) {
  BrokerProcess broker;
  auto c = v5(broker.port(), uid("c"));
  ASSERT_TRUE(c->subscribe(1, {{"nosid", 0}}));
  c->send(publishPacket(5, "nosid", "x", 0));
  auto m = c->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->props.allInts(P_SUBSCRIPTION_ID).empty());
}

TEST(NoLocal, OwnMessagesNotEchoed) {
  BrokerProcess broker;
  auto me = v5(broker.port(), uid("me"));
  ASSERT_TRUE(me->subscribe(1, {{"nl/t", 0x01 | 0x04}}));
  auto other = v5(broker.port(), uid("other"));
  // Own message first; ordering through the broker means the other's arriving first (and
  // alone) proves the own one was not forwarded.
  me->send(publishPacket(5, "nl/t", "mine", 1, 1));
  auto ack = me->read();
  ASSERT_TRUE(ack && ack->type == PUBACK);
  other->send(publishPacket(5, "nl/t", "theirs", 0));
  auto m = me->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "theirs") << "no-local subscription received its own message";
}

TEST(NoLocal, WithoutNoLocalOwnMessagesAreEchoed) {
  BrokerProcess broker;
  auto me = v5(broker.port(), uid("me"));
  ASSERT_TRUE(me->subscribe(1, {{"nl/t", 0x00}}));
  me->send(publishPacket(5, "nl/t", "mine", 0));
  auto m = me->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->payload, "mine");
}

// ---- shared subscriptions ----

class Shared : public Versioned {};
ITEST_VERSIONS(Shared);

TEST_P(Shared, EachMessageToExactlyOneMemberAndLoadSpread) {
  BrokerProcess broker;
  constexpr int kMembers = 3, kMessages = 60;
  std::vector<std::unique_ptr<PahoClient>> members;
  for (int i = 0; i < kMembers; ++i)
    members.push_back(std::make_unique<PahoClient>(broker.port(), uid("m"), v()));
  PahoClient normal(broker.port(), uid("n"), v()), pub(broker.port(), uid("p"), v());
  connectAll({members[0].get(), members[1].get(), members[2].get(), &normal, &pub});
  for (auto& m : members) m->subscribe("$share/g1/sh/#", 1);
  normal.subscribe("sh/#", 1);
  for (int i = 0; i < kMessages; ++i) pub.publish("sh/t", std::to_string(i), 1);
  // The non-shared subscriber gets every message: once it has all, the group is done too
  // (same publisher, delivery is prompt); then each member drains what it has.
  auto all = normal.collect(kMessages);
  ASSERT_EQ(all.size(), size_t(kMessages));
  std::multiset<std::string> seen;
  std::vector<size_t> per_member(kMembers, 0);
  size_t total = 0;
  // Poll the members round-robin until the group has received kMessages (bounded)...
  waitFor(
      [&] {
        for (size_t i = 0; i < members.size(); ++i)
          while (auto msg = members[i]->next(5ms)) {
            seen.insert(msg->to_string());
            ++per_member[i];
            ++total;
          }
        return total >= size_t(kMessages);
      },
      10s, 0ms);
  // ...then 300 ms of silence on every member proves there are no extra copies.
  for (size_t i = 0; i < members.size(); ++i)
    while (auto msg = members[i]->next(i == 0 ? 300ms : 5ms)) {
      seen.insert(msg->to_string());
      ++per_member[i];
      ++total;
    }
  EXPECT_EQ(total, size_t(kMessages)) << "each message goes to exactly one group member";
  for (int i = 0; i < kMessages; ++i)
    EXPECT_EQ(seen.count(std::to_string(i)), 1u) << "message " << i;
  for (size_t i = 0; i < per_member.size(); ++i)
    EXPECT_GE(per_member[i], 1u) << "member " << i << " got nothing: load not spread";
}

TEST_P(Shared, TwoGroupsEachGetEveryMessage) {
  BrokerProcess broker;
  PahoClient a(broker.port(), uid("a"), v()), b(broker.port(), uid("b"), v()),
      pub(broker.port(), uid("p"), v());
  connectAll({&a, &b, &pub});
  a.subscribe("$share/ga/two/t", 1);
  b.subscribe("$share/gb/two/t", 1);
  for (int i = 0; i < 5; ++i) pub.publish("two/t", std::to_string(i), 1);
  EXPECT_EQ(a.collect(5).size(), 5u);
  EXPECT_EQ(b.collect(5).size(), 5u);
}

TEST(SharedV5, InvalidShareNameRefused) {
  BrokerProcess broker;
  auto c = v5(broker.port(), uid("c"));
  // Either a SUBACK refusing both (0x8F) or a DISCONNECT/close for a protocol error.
  auto ack = c->subscribe(1, {{"$share/bad+name/t", 0}, {"$share/g", 0}});
  if (!ack) {
    EXPECT_TRUE(c->waitClosed(5s)) << "neither SUBACK nor close";
    return;
  }
  ASSERT_EQ(ack->codes.size(), 2u);
  for (auto code : ack->codes) EXPECT_GE(code, 0x80) << "invalid shared filter granted";
}

// ---- properties passed through ----

TEST(Properties, ForwardedUnchangedToSubscriber) {
  BrokerProcess broker;
  auto sub = v5(broker.port(), uid("s"));
  ASSERT_TRUE(sub->subscribe(1, {{"pp/t", 1}}));
  auto pub = v5(broker.port(), uid("p"));
  Props props;
  props.u8(P_PAYLOAD_FORMAT, 1)
      .str(P_CONTENT_TYPE, "application/json")
      .str(P_RESPONSE_TOPIC, "pp/reply")
      .str(P_CORRELATION_DATA, std::string("\x00\x01\xff", 3))
      .user("k1", "v1")
      .user("k2", "v2")
      .user("k1", "again");
  pub->send(publishPacket(5, "pp/t", "{\"a\":1}", 1, 9, false, props));
  auto m = sub->nextPublish();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->props.getInt(P_PAYLOAD_FORMAT), 1u);
  EXPECT_EQ(m->props.getStr(P_CONTENT_TYPE), "application/json");
  EXPECT_EQ(m->props.getStr(P_RESPONSE_TOPIC), "pp/reply");
  EXPECT_EQ(m->props.getStr(P_CORRELATION_DATA), std::string("\x00\x01\xff", 3));
  EXPECT_EQ(m->props.user, (std::vector<std::pair<std::string, std::string>>{
                               {"k1", "v1"}, {"k2", "v2"}, {"k1", "again"}}))
      << "user properties must keep their order, duplicates included";
}

// Request/response between two clients over plain topics (rpc/... belongs to the chat layer).
TEST(Properties, PahoRequestResponseRoundTrip) {
  BrokerProcess broker;
  PahoClient responder(broker.port(), uid("resp"), 5), requester(broker.port(), uid("req"), 5);
  connectAll({&responder, &requester});
  responder.subscribe("svc/echo", 1);
  requester.subscribe("svc/reply/me", 1);
  mqtt::properties props{mqtt::property(mqtt::property::RESPONSE_TOPIC, "svc/reply/me"),
                         mqtt::property(mqtt::property::CORRELATION_DATA, "corr-17"),
                         mqtt::property(mqtt::property::USER_PROPERTY, "trace", "abc")};
  auto msg = mqtt::message_ptr_builder()
                 .topic("svc/echo")
                 .payload("ping")
                 .qos(1)
                 .properties(props)
                 .finalize();
  requester.publish(msg);
  auto req = responder.next();
  ASSERT_TRUE(req);
  const auto& rp = req->get_properties();
  ASSERT_TRUE(rp.contains(mqtt::property::RESPONSE_TOPIC));
  ASSERT_TRUE(rp.contains(mqtt::property::CORRELATION_DATA));
  auto reply_to = mqtt::get<std::string>(rp, mqtt::property::RESPONSE_TOPIC);
  auto corr = mqtt::get<mqtt::binary>(rp, mqtt::property::CORRELATION_DATA);
  EXPECT_EQ(reply_to, "svc/reply/me");
  EXPECT_EQ(corr, "corr-17");
  auto up = mqtt::get<mqtt::string_pair>(rp, mqtt::property::USER_PROPERTY);
  EXPECT_EQ(std::get<0>(up), "trace");
  EXPECT_EQ(std::get<1>(up), "abc");
  mqtt::properties back{mqtt::property(mqtt::property::CORRELATION_DATA, corr)};
  responder.publish(mqtt::message_ptr_builder()
                        .topic(reply_to)
                        .payload("pong")
                        .qos(1)
                        .properties(back)
                        .finalize());
  auto rep = requester.next();
  ASSERT_TRUE(rep);
  EXPECT_EQ(rep->to_string(), "pong");
  EXPECT_EQ(mqtt::get<mqtt::binary>(rep->get_properties(), mqtt::property::CORRELATION_DATA),
            "corr-17");
}

// ---- reason strings ----

TEST(ReasonString, ServerDisconnectMayExplainAndProblemInfoZeroSuppressesOnSuback) {
  BrokerProcess broker;
  // Request Problem Information = 0: no Reason String on anything but PUBLISH, CONNACK and
  // DISCONNECT [MQTT-3.1.2-29].
  auto quiet = v5(broker.port(), uid("quiet"), Props().u8(P_REQ_PROBLEM_INFO, 0));
  auto ack = quiet->subscribe(1, {{"bad/#/filter", 0}});
  ASSERT_TRUE(ack);
  ASSERT_EQ(ack->codes.size(), 1u);
  EXPECT_EQ(ack->codes[0], 0x8F);
  EXPECT_FALSE(ack->props.getStr(P_REASON_STRING)) << "Reason String sent although the client "
                                                      "set Request Problem Information to 0";
  EXPECT_TRUE(ack->props.user.empty());
}

TEST(ReasonString, ServerDisconnectCarriesAReasonString) {
  BrokerProcess broker;
  // A server DISCONNECT for a protocol error explains itself (the Reason String is optional in
  // the spec; Parley sends one on every server-sent DISCONNECT).
  auto c = v5(broker.port(), uid("chatty"));
  c->send(publishPacket(5, "x", "1", 0, 0, false, Props().u16(P_TOPIC_ALIAS, 65535)));
  std::vector<Packet> seen;
  EXPECT_TRUE(c->waitClosed(5s, &seen));
  ASSERT_FALSE(seen.empty());
  ASSERT_EQ(seen.back().type, DISCONNECT);
  auto d = parseDisconnect(seen.back());
  EXPECT_EQ(d.reason, 0x94);
  auto dwhy = d.props.getStr(P_REASON_STRING);
  EXPECT_TRUE(dwhy && !dwhy->empty()) << "DISCONNECT without a Reason String";
}

}  // namespace
}  // namespace itest
