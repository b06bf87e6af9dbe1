// MQTT 5.0 reason codes (spec section 2.4). 3.1.1 CONNACK return codes are mapped from
// these in one place (connackCode311) so the rest of the broker speaks only 5.0 codes.
#pragma once
#include <cstdint>

namespace parley::mqtt {

enum class Reason : uint8_t {
  Success = 0x00,  // also NormalDisconnection, GrantedQoS0
  GrantedQoS1 = 0x01,
  GrantedQoS2 = 0x02,
  DisconnectWithWill = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8A,
  ServerShuttingDown = 0x8B,
  BadAuthenticationMethod = 0x8C,
  KeepAliveTimeout = 0x8D,
  SessionTakenOver = 0x8E,
  TopicFilterInvalid = 0x8F,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9A,
  QoSNotSupported = 0x9B,
  UseAnotherServer = 0x9C,
  ServerMoved = 0x9D,
  SharedSubscriptionsNotSupported = 0x9E,
  ConnectionRateExceeded = 0x9F,
  MaximumConnectTime = 0xA0,
  SubscriptionIdentifiersNotSupported = 0xA1,
  WildcardSubscriptionsNotSupported = 0xA2,
};

// 3.1.1 CONNACK return code for a 5.0 reason (spec 3.1.1 section 3.2.2.3).
inline uint8_t connackCode311(Reason r) {
  switch (r) {
    case Reason::Success: return 0;
    case Reason::UnsupportedProtocolVersion: return 1;
    case Reason::ClientIdentifierNotValid: return 2;
    case Reason::ServerUnavailable:
    case Reason::ServerBusy:
    case Reason::ServerShuttingDown: return 3;
    case Reason::BadUserNameOrPassword: return 4;
    default: return 5;  // not authorized
  }
}

}  // namespace parley::mqtt
