// parleyctl: operator commands that work on the broker's files.
//
//   parleyctl passwd [--iterations N] FILE USER   add USER or change its password
//   parleyctl passwd -D FILE USER                 delete USER
//
// The password is read from the terminal (twice, without echo) or, when standard input is not a
// terminal, from its first line. FILE is created (mode 0600) if missing. A running parleyd
// picks up the change on SIGHUP.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "password_file.hpp"

using namespace parley;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: parleyctl passwd [--iterations N] FILE USER   add or change a user\n"
               "       parleyctl passwd -D FILE USER                 delete a user\n"
               "The password is read from the terminal, or from the first line of standard "
               "input.\n");
  return 2;
}

bool readPassword(const char* prompt, std::string& out) {
  const bool tty = ::isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    std::fprintf(stderr, "%s", prompt);
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  const bool ok = static_cast<bool>(std::getline(std::cin, out));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::fprintf(stderr, "\n");
  }
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return ok;
}

int passwd(int argc, char** argv) {
  bool del = false;
  uint32_t iterations = auth::kDefaultPbkdf2Iterations;
  int i = 0;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    if (!std::strcmp(argv[i], "-D")) {
      del = true;
    } else if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
      iterations = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      return usage();
    }
  }
  if (argc - i != 2) return usage();
  const std::string file = argv[i], user = argv[i + 1];
  if (!auth::isValidUserName(user)) {
    std::fprintf(stderr,
                 "parleyctl: a user name may not be empty or contain ':' or a line break\n");
    return 2;
  }
  auth::PasswordEntries entries;
  if (std::filesystem::exists(file)) entries = auth::readPasswordFile(file);
  if (del) {
    if (!entries.erase(user)) {
      std::fprintf(stderr, "parleyctl: no user '%s' in %s\n", user.c_str(), file.c_str());
      return 1;
    }
  } else {
    std::string pw, again;
    if (!readPassword("Password: ", pw)) {
      std::fprintf(stderr, "parleyctl: no password given\n");
      return 1;
    }
    if (::isatty(STDIN_FILENO)) {
      if (!readPassword("Again: ", again) || again != pw) {
        std::fprintf(stderr, "parleyctl: the passwords differ\n");
        return 1;
      }
    }
    if (pw.empty()) {
      std::fprintf(stderr, "parleyctl: empty password refused\n");
      return 1;
    }
    entries[user] = auth::hashPassword(pw, iterations);
  }
  auth::writePasswordFile(file, entries);
  std::fprintf(stderr, "parleyctl: %s user '%s' in %s\n", del ? "deleted" : "set", user.c_str(),
               file.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  try {
    if (!std::strcmp(argv[1], "passwd")) return passwd(argc - 2, argv + 2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parleyctl: %s\n", e.what());
    return 1;
  }
  return usage();
}
