// The .npy reader against files NumPy writes and files it never would: every bad header,
// version, shape or size is a status naming the file, checked before any allocation.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/tools/npy.h"
#include "test/status_matchers.h"

namespace tilefuse::internal {
namespace {

std::string Dir() { return absl::StrCat(::testing::TempDir(), "/tf_npy_", ::getpid()); }

// A version-1.0 file with `header` (padded as NumPy pads it) and `data`.
std::string Npy(const std::string& header, const std::string& data, int major = 1) {
  std::string h = header;
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}

std::string Write(const std::string& name, const std::string& bytes) {
  ::mkdir(Dir().c_str(), 0700);
  const std::string path = Dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  return path;
}

TEST(Npy, RoundTripsEveryDtypeAndEmptyArrays) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kBool}) {
    for (std::vector<int64_t> shape : {std::vector<int64_t>{3, 5}, std::vector<int64_t>{0, 4}, std::vector<int64_t>{}}) {
      HostTensor x = HostTensor::Zeros(t, shape);
      for (int64_t i = 0; i < x.numel(); ++i) x.Set(i, t == DType::kBool ? i % 2 : i * 0.5 - 3);
      const std::string path = Dir() + "/rt.npy";
      ::mkdir(Dir().c_str(), 0700);
      TF_ASSERT_OK(WriteNpy(path, x));
      TF_ASSERT_OK_AND_ASSIGN(HostTensor y, ReadNpy(path, t));
      EXPECT_EQ(y.shape, x.shape);
      EXPECT_EQ(y.bytes, x.bytes) << DTypeName(t);
    }
  }
}

TEST(Npy, Bf16AsMlDtypesWritesIt) {
  const std::string bits("\x80\x3f\x00\x40", 4);  // 1.0, 2.0 in bf16
  TF_ASSERT_OK_AND_ASSIGN(HostTensor t, ReadNpy(Write("v2.npy", Npy("{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }", bits)), DType::kBF16));
  EXPECT_EQ(t.Get(0), 1.0);
  EXPECT_EQ(t.Get(1), 2.0);
}

TEST(Npy, HostileFilesAreStatusesBeforeAllocation) {
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  const struct {
    std::string name, bytes, message;
  } cases[] = {
      {"huge", Npy(f4 + "(1099511627776,), }", std::string(16, '\0')), "the data holds 16 bytes"},
      {"negative", Npy(f4 + "(-2, -3), }", std::string(24, '\0')), "dims are integers >= 0"},
      {"overflow", Npy(f4 + "(4294967296, 4294967296, 4294967296), }", ""), "2^48 elements"},
      {"version0", Npy(f4 + "(1,), }", std::string(4, '\0'), 0), "format version 0.0"},
      {"version9", Npy(f4 + "(1,), }", std::string(4, '\0'), 9), "format version 9.0"},
      {"short", Npy(f4 + "(3,), }", std::string(8, '\0')), "needs 12"},
      {"long", Npy(f4 + "(1,), }", std::string(8, '\0')), "needs 4"},
      {"noshape", Npy("{'descr': '<f4', 'fortran_order': False, }", ""), "no 'shape'"},
      {"nodescr", Npy("{'fortran_order': False, 'shape': (1,), }", std::string(4, '\0')), "no 'descr'"},
      {"notdict", Npy("garbage", ""), "not a dict"},
      {"colon", Npy("{'descr'", ""), "no 'fortran_order'"},
      {"truncated", std::string("\x93NUMPY\x01\x00\xff\x00{", 11), "truncated header"},
      {"fortran", Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", std::string(4, '\0')), "Fortran"},
      {"dtype", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')), "'<f8' does not fit"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = Write(c.name + ".npy", c.bytes);
    EXPECT_TRUE(StatusIs(ReadNpy(path, DType::kF32), absl::StatusCode::kInvalidArgument, c.message));
  }
}

TEST(Npy, OnlyRegularFilesAreRead) {
  EXPECT_TRUE(StatusIs(ReadNpy("/dev/zero", DType::kF32), absl::StatusCode::kInvalidArgument, "not a regular file"));
  const std::string fifo = Dir() + "/fifo.npy";
  ::mkdir(Dir().c_str(), 0700);
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(StatusIs(ReadNpy(fifo, DType::kF32), absl::StatusCode::kInvalidArgument, "not a regular file"));
  EXPECT_TRUE(StatusIs(ReadNpy(Dir() + "/missing.npy", DType::kF32), absl::StatusCode::kNotFound, "missing.npy"));
}

}  // namespace
}  // namespace tilefuse::internal
