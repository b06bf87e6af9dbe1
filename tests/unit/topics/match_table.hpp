// Filter/topic pairs shared by the topicMatches, SubscriptionTree and RetainedTree tests.
// Includes every example of MQTT 5.0 section 4.7 (and 3.1.1, which has the same ones).
#pragma once
#include <string_view>

namespace parley::topics::test {

struct MatchCase {
  std::string_view filter;
  std::string_view name;
  bool matches;
};

inline constexpr MatchCase kMatchTable[] = {
    // 4.7.1.2 multi-level wildcard
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"sport/#", "/sport", false},
    {"#", "sport", true},
    {"#", "sport/tennis/player1", true},
    {"#", "/", true},
    {"#", "/finance", true},
    // 4.7.1.3 single-level wildcard
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/tennis/+", "sport/tennis/", true},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport/golf/player1", true},
    {"sport/+/player1", "sport/tennis/player2", false},
    {"sport/+/player1", "sport//player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/tennis/player1/ranking", true},
    {"+/tennis/#", "sport/golf", false},
    {"+", "sport", true},
    {"+", "sport/tennis", false},
    {"+", "/finance", false},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+/+", "sport", false},
    {"+/+", "/", true},
    // empty levels are levels
    {"a//b", "a//b", true},
    {"a//b", "a/b", false},
    {"a/+/b", "a//b", true},
    {"a/+/b", "a/b", false},
    {"/", "/", true},
    {"/#", "/", true},
    {"/#", "/a/b", true},
    {"/#", "a", false},
    {"a/", "a/", true},
    {"a/", "a", false},
    {"a/+", "a/", true},
    {"a/#", "a//", true},
    {"+/#", "a", true},
    {"+/#", "/", true},
    {"+/+/#", "a", false},
    {"+/+/#", "a/b", true},
    {"a/+/#", "a/b", true},
    {"a/+/#", "a", false},
    // exact matching is case-sensitive and byte-exact (4.7.3)
    {"ACCOUNTS", "ACCOUNTS", true},
    {"ACCOUNTS", "Accounts", false},
    {"Accounts payable", "Accounts payable", true},
    {"Accounts payable", "Accounts  payable", false},
    {"a/b/c", "a/b/c", true},
    {"a/b/c", "a/b", false},
    {"a/b", "a/b/c", false},
    {"a/b/c", "a/b/c/", false},
    {"conv/42", "conv/42", true},
    {"conv/42", "conv/42/typing", false},
    {"conv/+/typing", "conv/42/typing", true},
    {"conv/+/typing", "conv/42/read", false},
    {"conv/#", "conv/42/read", true},
    // 4.7.2 topics beginning with '$'
    {"#", "$SYS/monitor/Clients", false},
    {"#", "$SYS", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+", "$SYS", false},
    {"+/#", "$SYS/a", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/+/Clients", "$SYS/monitor/Clients", true},
    {"$SYS", "$SYS", true},
    {"$SYS", "$sys", false},
    {"a/#", "a/$b", true},
    {"a/+", "a/$b", true},
    {"+/$b", "a/$b", true},
    {"#", "a$", true},
    {"+", "a$b", true},
};

}  // namespace parley::topics::test
