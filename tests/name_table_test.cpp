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

TEST(NameTable, DuplicatesAndEmptyNamesAreCaught) {
  static_assert(!name_table<Colour>({{Colour::kRed, "red"}, {Colour::kRed, "rouge"}}).well_formed());
  static_assert(!name_table<Colour>({{Colour::kRed, "red"}, {Colour::kGreen, "red"}}).well_formed());
  static_assert(!name_table<Colour>({{Colour::kRed, ""}}).well_formed());
  SUCCEED();
}

}  // namespace
}  // namespace ipcm
