#include "harness/core/name_table.h"

#include <gtest/gtest.h>

namespace ipcm {
namespace {

enum class Colour { kRed, kGreen, kBlue };
constexpr auto kColourNames = name_table<Colour>({{Colour::kRed, "red"}, {Colour::kGreen, "green"}});

TEST(NameTable, BothDirectionsAndTheValues) {
  static_assert(kColourNames.well_formed());
  static_assert(kColourNames.parse("green") == Colour::kGreen);
  EXPECT_STREQ(kColourNames.name(Colour::kRed), "red");
  EXPECT_EQ(kColourNames.parse("red"), Colour::kRed);
  EXPECT_EQ(kColourNames.parse("Red"), std::nullopt);
  EXPECT_EQ(kColourNames.parse(""), std::nullopt);
  // A value the table lacks shows as "?" in a name rather than crashing.
  EXPECT_STREQ(kColourNames.name(Colour::kBlue), "?");
  EXPECT_EQ(kColourNames.values(), (std::array<Colour, 2>{Colour::kRed, Colour::kGreen}));
}

// What the enums' kAll* lists and *_name functions are built on: a reference to the values
// that range-for and constant expressions take, and a name usable as a const char*.
constexpr const auto& kAllColours = kColourNames.values();
constexpr int count_green() {
  int n = 0;
  for (Colour c : kAllColours) n += c == Colour::kGreen;
  return n;
}
const char* colour_name(Colour c) { return kColourNames.name(c); }

TEST(NameTable, ValuesAreAReferenceIntoTheTable) {
  static_assert(kAllColours.size() == 2 && kAllColours[0] == Colour::kRed);
  static_assert(count_green() == 1);
  static_assert(&kAllColours == &kColourNames.values());
  EXPECT_STREQ(colour_name(Colour::kGreen), "green");
}

TEST(NameTable, DuplicatesAndEmptyNamesAreCaught) {
  static_assert(!name_table<Colour>({{Colour::kRed, "red"}, {Colour::kRed, "rouge"}}).well_formed());
  static_assert(!name_table<Colour>({{Colour::kRed, "red"}, {Colour::kGreen, "red"}}).well_formed());
  static_assert(!name_table<Colour>({{Colour::kRed, ""}}).well_formed());
  SUCCEED();
}

}  // namespace
}  // namespace ipcm
