// Nearest-name suggestions for "did you mean" in error messages.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nightshift {

// Levenshtein distance (insertions, deletions, substitutions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, when it is close enough to be a likely typo
// (distance at most a third of the word's length, and at least 1 allowed).
std::optional<std::string> nearest_name(std::string_view word,
                                        const std::vector<std::string_view>& candidates);

// " (did you mean 'X'?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace nightshift
