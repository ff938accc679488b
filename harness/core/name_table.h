// One table per enum gives both directions, enum -> name and name -> enum, and the list of
// every value in the table's order, so the three can never disagree:
//
//   inline constexpr auto kWaitNames = name_table<Wait>({{Wait::kSpin, "spin"}, {Wait::kBlock, "block"}});
//   kWaitNames.name(Wait::kSpin) == "spin";  kWaitNames.parse("block") == Wait::kBlock;
//   static_assert(kWaitNames.well_formed());
//
// A name is part of the public interface (benchmark names, results files): a value's name
// never changes, a new value gets a new row.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace ipcm {

template <class E>
struct Named {
  E value;
  const char* name;
};

template <class E, std::size_t N>
struct NameTable {
  std::array<Named<E>, N> rows;

  // "?" for a value missing from the table, so that a gap shows in a name, never crashes.
  constexpr const char* name(E e) const {
    for (const Named<E>& r : rows)
      if (r.value == e) return r.name;
    return "?";
  }
  constexpr std::optional<E> parse(std::string_view s) const {
    for (const Named<E>& r : rows)
      if (s == r.name) return r.value;
    return std::nullopt;
  }
  constexpr std::array<E, N> values() const {
    std::array<E, N> v{};
    for (std::size_t i = 0; i < N; ++i) v[i] = rows[i].value;
    return v;
  }
  // No value and no name twice, no empty name: checked where a table is defined.
  constexpr bool well_formed() const {
    for (std::size_t i = 0; i < N; ++i) {
      if (rows[i].name == nullptr || std::string_view(rows[i].name).empty()) return false;
      for (std::size_t j = i + 1; j < N; ++j)
        if (rows[i].value == rows[j].value || std::string_view(rows[i].name) == rows[j].name) return false;
    }
    return true;
  }
};

template <class E, std::size_t N>
constexpr NameTable<E, N> name_table(const Named<E> (&rows)[N]) {
  NameTable<E, N> t{};
  for (std::size_t i = 0; i < N; ++i) t.rows[i] = rows[i];
  return t;
}

}  // namespace ipcm
