// What env records of the CPU, read from /proc/cpuinfo texts written out by hand: an x86 VM
// whose model name says only "AMD EPYC" (two hosts of other silicon share it, and only the
// signature tells them apart), an Arm server, and text that says nothing. The live file is
// checked by the smoke run (tests/smoke_run.py, every env key present).
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "harness/core/env.h"

namespace ipcm {
namespace {

nlohmann::json identity_of(const std::string& text) {
  std::istringstream in(text);
  return cpu_identity(in);
}

const char kEpycVm[] =
    "processor\t: 0\n"
    "vendor_id\t: AuthenticAMD\n"
    "cpu family\t: 26\n"
    "model\t\t: 2\n"
    "model name\t: AMD EPYC\n"
    "stepping\t: 1\n"
    "microcode\t: 0x1000065\n"
    "cpu MHz\t\t: 2596.122\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: AuthenticAMD\n"
    "\n";

TEST(CpuIdentity, X86SignatureTellsHostsOfOneModelNameApart) {
  const auto id = identity_of(kEpycVm);
  EXPECT_EQ(id["cpu_model"], "AMD EPYC");
  const nlohmann::json expected = {{"vendor", "AuthenticAMD"}, {"family", 26}, {"model", 2},
                                   {"stepping", 1}};
  EXPECT_EQ(id["cpu_signature"], expected);
  EXPECT_EQ(id["microcode"], "0x1000065");

  std::string other_host = kEpycVm;
  other_host.replace(other_host.find("cpu family\t: 26"), 15, "cpu family\t: 25");
  const auto other = identity_of(other_host);
  EXPECT_EQ(other["cpu_model"], id["cpu_model"]);
  EXPECT_NE(other["cpu_signature"], id["cpu_signature"]);
}

TEST(CpuIdentity, OnlyTheFirstProcessorIsRead) {
  // The second block says what the first leaves out; none of it may be taken.
  const auto id = identity_of(
      "processor\t: 0\n"
      "vendor_id\t: AuthenticAMD\n"
      "\n"
      "processor\t: 1\n"
      "vendor_id\t: GenuineIntel\n"
      "cpu family\t: 6\n"
      "model name\t: Intel Xeon\n"
      "microcode\t: 0x2b000590\n"
      "\n");
  EXPECT_EQ(id["cpu_signature"], (nlohmann::json{{"vendor", "AuthenticAMD"}}));
  EXPECT_TRUE(id["cpu_model"].is_null());
  EXPECT_TRUE(id["microcode"].is_null());
}

TEST(CpuIdentity, ArmSignatureKeepsHexIdsAsText) {
  const auto id = identity_of(
      "processor\t: 0\n"
      "BogoMIPS\t: 50.00\n"
      "CPU implementer\t: 0x41\n"
      "CPU architecture: 8\n"
      "CPU variant\t: 0x3\n"
      "CPU part\t: 0xd0c\n"
      "CPU revision\t: 1\n"
      "\n");
  const nlohmann::json expected = {{"implementer", "0x41"}, {"architecture", 8},
                                   {"variant", "0x3"},      {"part", "0xd0c"},
                                   {"revision", 1}};
  EXPECT_EQ(id["cpu_signature"], expected);
  EXPECT_TRUE(id["cpu_model"].is_null());  // Arm kernels print no model name
  EXPECT_TRUE(id["microcode"].is_null());
}

TEST(CpuIdentity, WhatTheTextDoesNotSayIsNullNotGuessed) {
  for (const char* text : {"", "\n\n", "processor\t: 0\nmodel name\t:\nmodel\t\t:\n\n"}) {
    const auto id = identity_of(text);
    EXPECT_TRUE(id["cpu_model"].is_null()) << text;
    EXPECT_TRUE(id["cpu_signature"].is_null()) << text;
    EXPECT_TRUE(id["microcode"].is_null()) << text;
  }
}

}  // namespace
}  // namespace ipcm
