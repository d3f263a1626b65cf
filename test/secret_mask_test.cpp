#include "nightshift/secret_mask.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using nightshift::SecretMask;

namespace {

// What masking means, written the slow obvious way: every byte inside an
// occurrence of a value is covered; each run of overlapping occurrences
// becomes one "***".
std::string reference_mask(const std::string& text, const std::vector<std::string>& values) {
  std::vector<std::size_t> end_at(text.size(), 0);  // furthest end of an occurrence starting here
  for (const std::string& v : values) {
    if (v.size() < SecretMask::kMinLength) continue;
    for (std::size_t at = text.find(v); at != std::string::npos; at = text.find(v, at + 1))
      end_at[at] = std::max(end_at[at], at + v.size());
  }
  std::string out;
  std::size_t covered_until = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (end_at[i] > 0) {
      if (i >= covered_until) out += "***";
      covered_until = std::max(covered_until, end_at[i]);
    }
    if (i >= covered_until) out += text[i];
  }
  return out;
}

std::string stream(SecretMask mask, const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) out += mask.feed(piece);
  return out + mask.finish();
}

}  // namespace

TEST_CASE("secret mask: every occurrence of a value becomes ***") {
  SecretMask mask({"hunter22"});
  CHECK(mask.mask("password=hunter22") == "password=***");
  CHECK(mask.mask("hunter22hunter22 and hunter22.") == "****** and ***.");
  CHECK(mask.mask("hunter2 is not it") == "hunter2 is not it");
  CHECK(mask.mask("") == "");
  CHECK(mask.mask("xhunter22y") == "x***y");  // inside a longer word too
}

TEST_CASE("secret mask: no values, or only short ones, leave the text as it is") {
  CHECK(SecretMask().mask("anything") == "anything");
  SecretMask short_ones({"", "a", "ab", "abc"});
  CHECK(short_ones.empty());
  SecretMask copy = short_ones;
  CHECK(stream(copy, {"abc", "ab", "a"}) == "abcaba");
  CHECK(SecretMask::too_short("abc"));
  CHECK_FALSE(SecretMask::too_short("abcd"));
  CHECK(SecretMask({"abcd"}).mask("abcd") == "***");
}

TEST_CASE("secret mask: a value that is a prefix of another: the longest match wins") {
  SecretMask mask({"pass", "password", "password123"});
  CHECK(mask.mask("my password123!") == "my ***!");
  CHECK(mask.mask("my password12") == "my ***12");
  CHECK(mask.mask("a pass, a passport") == "a ***, a ***port");
  // Streamed, "password" must wait: "123" may follow.
  SecretMask streamed({"pass", "password", "password123"});
  CHECK(streamed.feed("my password") == "my ");
  CHECK(streamed.feed("123 done") == "*** done");
  CHECK(streamed.finish() == "");
}

TEST_CASE("secret mask: overlapping values are one masked range, no part of either shows") {
  SecretMask mask({"abcdef", "defghi"});
  CHECK(mask.mask("xxabcdefghiyy") == "xx***yy");
  CHECK(mask.mask("abcdefdefghi") == "******");  // adjacent, not overlapping: two
  SecretMask chain({"aaaa"});
  CHECK(chain.mask("baaaaaaab") == "b***b");
}

TEST_CASE("secret mask: each line of a multi-line value is masked on its own too") {
  SecretMask mask({"-----BEGIN KEY-----\r\nMIIEsecretline\n-----END KEY-----\n"});
  CHECK(mask.mask("line: MIIEsecretline\n") == "line: ***\n");
  CHECK(mask.mask("-----BEGIN KEY-----\r\nMIIEsecretline\n-----END KEY-----\n") == "***");
}

TEST_CASE("secret mask: a value split at every byte position is masked, whatever the split") {
  const std::vector<std::string> values = {"s3cr3t-value", "s3cr3t", "value-of-mine"};
  const std::string text = "start s3cr3t-value mid s3cr3t end value-of-mine s3cr3t-value-of-mine";
  const std::string expected = reference_mask(text, values);
  REQUIRE(expected == "start *** mid *** end *** ***");
  for (std::size_t split = 0; split <= text.size(); ++split) {
    INFO("split at " << split);
    CHECK(stream(SecretMask(values), {text.substr(0, split), text.substr(split)}) == expected);
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  CHECK(stream(SecretMask(values), bytes) == expected);
}

TEST_CASE("secret mask: it holds back at most the longest value's length less one byte") {
  SecretMask mask({"0123456789"});
  std::string out = mask.feed("some output then 012345678");
  CHECK(out == "some output then ");
  CHECK(mask.held() == 9);
  out += mask.feed("X");  // not the secret after all: all of it goes out
  CHECK(out == "some output then 012345678X");
  CHECK(mask.held() == 0);
  // Output that cannot begin a value is never held: a live log keeps up.
  CHECK(mask.feed("line\n") == "line\n");
  // A long run of one overlapping value is one mask, without holding it all.
  SecretMask chain({"aaaa"});
  std::string chained;
  for (int i = 0; i < 1000; ++i) {
    chained += chain.feed(std::string(1000, 'a'));
    REQUIRE(chain.held() < 4);
  }
  chained += chain.finish();
  CHECK(chained == "***");
}

TEST_CASE("secret mask: random texts and splits agree with the plain definition") {
  std::mt19937 random(7);
  auto random_text = [&](std::size_t size) {
    std::string s;
    for (std::size_t i = 0; i < size; ++i) s += static_cast<char>('a' + random() % 3);
    return s;
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> values;
    for (int i = 0; i < 1 + static_cast<int>(random() % 3); ++i)
      values.push_back(random_text(2 + random() % 6));
    std::string text = random_text(random() % 60);
    std::vector<std::string> pieces;
    for (std::size_t at = 0; at < text.size();) {
      std::size_t size = std::min<std::size_t>(text.size() - at, random() % 8);
      pieces.push_back(text.substr(at, size));
      at += size;
    }
    std::string expected = reference_mask(text, values);
    INFO("round " << round << ": " << text);
    REQUIRE(stream(SecretMask(values), pieces) == expected);
    REQUIRE(SecretMask(values).mask(text) == expected);
    for (const std::string& v : values)
      if (!SecretMask::too_short(v)) REQUIRE(expected.find(v) == std::string::npos);
  }
}
