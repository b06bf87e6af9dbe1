// The admin HTTP API end to end: the real parleyd on ephemeral ports with a temp data dir,
// called with curl. Status codes, auth refusal, JSON bodies, system messages in the history,
// and persistence across a clean restart and a SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "parley-admin-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

pid_t spawn(const std::vector<std::string>& args, const std::string& out_file = "") {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!out_file.empty()) {
      FILE* f = std::fopen(out_file.c_str(), "w");
      if (f != nullptr) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// One parleyd process with the admin API on an ephemeral port.
class Parleyd {
 public:
  Parleyd(const std::string& data_dir, std::vector<std::string> extra) : dir_(data_dir) {
    const std::string admin_port_file = dir_ + "/admin.port";
    fs::remove(admin_port_file);
    std::vector<std::string> args = {
        PARLEYD_PATH, "--port",       "0", "--data-dir",        dir_ + "/data", "--threads",
        "1",          "--admin-port", "0", "--admin-port-file", admin_port_file};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = spawn(args, dir_ + "/parleyd.log");
    for (int i = 0; i < 500 && port_ == 0; ++i) {
      std::ifstream f(admin_port_file);
      int p = 0;
      if (f >> p && p > 0)
        port_ = p;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (port_ == 0) {
      stop(SIGKILL);
      throw std::runtime_error("parleyd did not start the admin API");
    }
  }
  ~Parleyd() { stop(SIGTERM); }
  void stop(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  int port() const { return port_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

struct Reply {
  int status = 0;
  json body;
};

class AdminTest : public ::testing::Test {
 protected:
  static constexpr const char* kToken = "test-token-123";

  void start(std::vector<std::string> extra = {"--admin-token", kToken}) {
    parleyd_ = std::make_unique<Parleyd>(dir_.path(), std::move(extra));
  }

  // Calls the API with curl; token "" sends no Authorization header.
  Reply call(const std::string& method, const std::string& path, const json& body = nullptr,
             const std::string& token = kToken) {
    const std::string out = dir_.path() + "/curl.out", in = dir_.path() + "/curl.in";
    std::vector<std::string> args = {CURL_PATH, "-s",           "-o", out,
                                     "-w",      "%{http_code}", "-X", method};
    if (!token.empty()) {
      args.push_back("-H");
      args.push_back("Authorization: Bearer " + token);
    }
    if (!body.is_null()) {
      std::ofstream(in) << body.dump();
      args.insert(args.end(), {"-H", "Content-Type: application/json", "--data-binary", "@" + in});
    }
    args.push_back("http://127.0.0.1:" + std::to_string(parleyd_->port()) + path);
    const std::string code_file = dir_.path() + "/curl.code";
    const pid_t pid = spawn(args, code_file);
    int status = 0;
    waitpid(pid, &status, 0);
    Reply r;
    std::ifstream(code_file) >> r.status;
    std::ifstream f(out);
    std::string text((std::istreambuf_iterator<char>(f)), {});
    r.body = json::parse(text, nullptr, false);
    fs::remove(out);
    return r;
  }

  TempDir dir_;
  std::unique_ptr<Parleyd> parleyd_;
};

const json kTeam = {{"id", "team"},
                    {"kind", "group"},
                    {"title", "Team"},
                    {"members", {{{"user", "alice"}, {"role", "owner"}}, {{"user", "bob"}}}}};

TEST_F(AdminTest, HealthzAndAuthRefusal) {
  start();
  auto h = call("GET", "/healthz", nullptr, "");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body["status"], "ok");
  auto none = call("GET", "/v1/conversations/team", nullptr, "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body["error"], "unauthorized");
  EXPECT_EQ(call("GET", "/v1/conversations/team", nullptr, "wrong-token").status, 401);
  EXPECT_EQ(call("GET", "/v1/conversations/team", nullptr, "test-token-12").status, 401);
  EXPECT_EQ(call("POST", "/v1/conversations", kTeam, "wrong").status, 401);
  EXPECT_EQ(call("GET", "/v1/conversations/team").status, 404);  // the right token gets through
}

TEST_F(AdminTest, NoTokenConfiguredRefusesUnlessInsecure) {
  start({});
  EXPECT_EQ(call("POST", "/v1/conversations", kTeam, "").status, 401);
  EXPECT_EQ(call("POST", "/v1/conversations", kTeam, "anything").status, 401);
  parleyd_.reset();
  start({"--admin-insecure"});
  EXPECT_EQ(call("POST", "/v1/conversations", kTeam, "").status, 201);
}

TEST_F(AdminTest, ConversationsMembersAndErrors) {
  start();
  auto created = call("POST", "/v1/conversations", kTeam);
  ASSERT_EQ(created.status, 201);
  EXPECT_EQ(created.body["id"], "team");
  EXPECT_EQ(created.body["kind"], "group");
  EXPECT_EQ(created.body["member_count"], 2);
  EXPECT_EQ(created.body["member_cap"], 5000);
  EXPECT_EQ(created.body["head_seq"], 1);
  EXPECT_EQ(call("POST", "/v1/conversations", kTeam).status, 409);  // id taken

  // Direct: unique per pair; the second create returns the existing one with 200.
  json direct = {{"kind", "direct"}, {"members", {{{"user", "alice"}}, {{"user", "bob"}}}}};
  auto d1 = call("POST", "/v1/conversations", direct);
  ASSERT_EQ(d1.status, 201);
  direct["members"] = {{{"user", "bob"}}, {{"user", "alice"}}};
  auto d2 = call("POST", "/v1/conversations", direct);
  EXPECT_EQ(d2.status, 200);
  EXPECT_EQ(d2.body["id"], d1.body["id"]);
  EXPECT_EQ(d2.body["created"], false);

  // Bad requests.
  EXPECT_EQ(
      call("POST", "/v1/conversations", {{"kind", "crowd"}, {"members", json::array()}}).status,
      400);
  EXPECT_EQ(call("POST", "/v1/conversations", {{"kind", "group"}}).status, 400);
  EXPECT_EQ(call("POST", "/v1/conversations",
                 {{"kind", "group"}, {"members", {{{"user", "x"}, {"role", "member"}}}}})
                .status,
            400);  // no owner
  EXPECT_EQ(call("POST", "/v1/conversations/team/members", {{"role", "member"}}).status, 400);
  EXPECT_EQ(call("GET", "/v1/conversations/team/messages?limit=abc").status, 400);
  EXPECT_EQ(call("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(call("GET", "/v1/conversations/nope").status, 404);

  // Members and roles, with an actor checked against its role.
  auto add = call("POST", "/v1/conversations/team/members",
                  {{"user", "carol@example.com"}, {"role", "read_only"}, {"actor", "alice"}});
  ASSERT_EQ(add.status, 201);
  EXPECT_EQ(add.body["seq"], 2);
  EXPECT_EQ(
      call("POST", "/v1/conversations/team/members", {{"user", "dave"}, {"actor", "bob"}}).status,
      403);  // a plain member cannot add
  EXPECT_EQ(call("POST", "/v1/conversations/team/members", {{"user", "bob"}}).status, 409);
  auto patch = call("PATCH", "/v1/conversations/team/members/carol%40example.com",
                    {{"role", "admin"}, {"actor", "alice"}});
  ASSERT_EQ(patch.status, 200);
  EXPECT_EQ(patch.body["seq"], 3);
  EXPECT_EQ(call("DELETE", "/v1/conversations/team/members/alice").status, 409);  // last owner
  EXPECT_EQ(call("DELETE", "/v1/conversations/team/members/nobody").status, 404);
  auto del = call("DELETE", "/v1/conversations/team/members/bob?actor=carol%40example.com");
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(del.body["seq"], 4);

  auto get = call("GET", "/v1/conversations/team");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["member_count"], 2);
  ASSERT_EQ(get.body["members"].size(), 2u);
  EXPECT_EQ(get.body["members"][0]["user"], "alice");
  EXPECT_EQ(get.body["members"][1]["user"], "carol@example.com");
  EXPECT_EQ(get.body["members"][1]["role"], "admin");
  EXPECT_EQ(get.body["members"][1]["joined_seq"], 2);

  auto mine = call("GET", "/v1/users/alice/conversations");
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.body["conversations"].size(), 2u);  // the direct one and team
  auto bobs = call("GET", "/v1/users/bob/conversations");
  ASSERT_EQ(bobs.body["conversations"].size(), 1u);  // only the direct one now
  EXPECT_EQ(bobs.body["conversations"][0]["kind"], "direct");
}

TEST_F(AdminTest, HistoryShowsSystemMessages) {
  start();
  ASSERT_EQ(call("POST", "/v1/conversations", kTeam).status, 201);
  ASSERT_EQ(call("POST", "/v1/conversations/team/members", {{"user", "carol"}}).status, 201);
  ASSERT_EQ(call("PATCH", "/v1/conversations/team/members/carol", {{"role", "admin"}}).status, 200);
  ASSERT_EQ(call("DELETE", "/v1/conversations/team/members/bob").status, 200);

  auto page = call("GET", "/v1/conversations/team/messages?limit=2");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body["head_seq"], 4);
  EXPECT_EQ(page.body["has_more"], true);
  EXPECT_EQ(page.body["next_before"], 3);
  ASSERT_EQ(page.body["messages"].size(), 2u);
  EXPECT_EQ(page.body["messages"][0]["seq"], 3);
  EXPECT_EQ(page.body["messages"][0]["kind"], "system");
  EXPECT_EQ(page.body["messages"][0]["system"]["event"], "role_changed");
  EXPECT_EQ(page.body["messages"][0]["system"]["old_role"], "member");
  EXPECT_EQ(page.body["messages"][1]["system"]["event"], "member_removed");
  EXPECT_EQ(page.body["messages"][1]["system"]["subject"], "bob");

  auto older = call("GET", "/v1/conversations/team/messages?before=3&limit=10");
  ASSERT_EQ(older.body["messages"].size(), 2u);
  EXPECT_EQ(older.body["messages"][0]["system"]["event"], "conversation_created");
  EXPECT_EQ(older.body["messages"][1]["system"]["event"], "member_added");
  EXPECT_EQ(older.body["has_more"], false);
}

TEST_F(AdminTest, PersistsAcrossRestartAndSigkill) {
  start();
  ASSERT_EQ(call("POST", "/v1/conversations", kTeam).status, 201);
  ASSERT_EQ(call("POST", "/v1/conversations/team/members", {{"user", "carol"}}).status, 201);
  parleyd_->stop(SIGTERM);
  start();
  auto get = call("GET", "/v1/conversations/team");
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["member_count"], 3);
  EXPECT_EQ(get.body["head_seq"], 2);
  // Seqs continue after the restart.
  auto add = call("POST", "/v1/conversations/team/members", {{"user", "dave"}});
  ASSERT_EQ(add.status, 201);
  EXPECT_EQ(add.body["seq"], 3);

  // A 201 means durable: SIGKILL right after it loses nothing (default --durability sync).
  parleyd_->stop(SIGKILL);
  start();
  get = call("GET", "/v1/conversations/team");
  EXPECT_EQ(get.body["member_count"], 4);
  EXPECT_EQ(get.body["head_seq"], 3);
  auto page = call("GET", "/v1/conversations/team/messages");
  ASSERT_EQ(page.body["messages"].size(), 3u);
  EXPECT_EQ(page.body["messages"][2]["system"]["subject"], "dave");
}

}  // namespace
