// One table per enum gives both directions, enum -> name and name -> enum, and the list of
// every value in the table's order, so the three can never disagree:
//
//   inline constexpr auto kWaitNames = name_table<Wait>({{Wait::kSpin, "spin"}, {Wait::kBlock, "block"}});
//   kWaitNames.name(Wait::kSpin) == "spin";  kWaitNames.parse("block") == Wait::kBlock;
//   static_assert(kWaitNames.well_formed());
//   for (Wait w : kWaitNames.values()) ...   // every value, in the rows' order
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
class NameTable {
 public:
  constexpr explicit NameTable(const Named<E> (&rows)[N]) {
    for (std::size_t i = 0; i < N; ++i) {
      rows_[i] = rows[i];
      values_[i] = rows[i].value;
    }
  }

  // "?" for a value missing from the table, so that a gap shows in a name, never crashes.
  constexpr const char* name(E e) const {
    for (const Named<E>& r : rows_)
      if (r.value == e) return r.name;
    return "?";
  }
  constexpr std::optional<E> parse(std::string_view s) const {
    for (const Named<E>& r : rows_)
      if (s == r.name) return r.value;
    return std::nullopt;
  }
  // Every value, in the table's order. A reference into the table, so that an enum's list
  // of values is the table itself: `inline constexpr const auto& kAllX = kXNames.values();`
  constexpr const std::array<E, N>& values() const { return values_; }

  // No value and no name twice, no empty name: checked where a table is defined.
  constexpr bool well_formed() const {
    for (std::size_t i = 0; i < N; ++i) {
      if (rows_[i].name == nullptr || std::string_view(rows_[i].name).empty()) return false;
      for (std::size_t j = i + 1; j < N; ++j)
        if (rows_[i].value == rows_[j].value || std::string_view(rows_[i].name) == rows_[j].name) return false;
    }
    return true;
  }

 private:
  std::array<Named<E>, N> rows_{};
  // The rows' values again, filled from them, because values() hands out a reference.
  std::array<E, N> values_{};
};

template <class E, std::size_t N>
constexpr NameTable<E, N> name_table(const Named<E> (&rows)[N]) {
  return NameTable<E, N>(rows);
}

}  // namespace ipcm
