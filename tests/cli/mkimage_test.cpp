// cxlmgr-mkimage refuses an image no emulated device could hold (issue 14), writing nothing,
// and notes one that only a device described with a larger max_image_size takes.
#include "emu/firmware_image.hpp"
#include "tests/cli/cli_fixture.hpp"

namespace cxlmgr::testing {
namespace {

namespace fs = std::filesystem;

TEST(Mkimage, RefusesAnImageNoEmulatedDeviceCouldHoldAndWritesNothing) {
    TempDir dir("cxlmgr-mkimage");
    const fs::path out = dir.path() / "fw.bin";
    // 512 GiB of payload: with its header, one 128-byte unit past what Transfer FW can address.
    const uint64_t payload_mib = emu::kLargestFirmwareImageSize >> 20;
    auto r = run_command(
        {CXLMGR_MKIMAGE_PATH, "EMU FW 9.0", std::to_string(payload_mib) + "M", out.string()});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.err.find("larger than any emulated device can hold"), std::string::npos)
        << r.describe();
    EXPECT_FALSE(fs::exists(out));
    // A size that wraps around 64 bits is no size at all.
    auto wrapped =
        run_command({CXLMGR_MKIMAGE_PATH, "EMU FW 9.0", "18014398509481984M", out.string()});
    EXPECT_EQ(wrapped.exit_code, 2) << wrapped.describe();
    EXPECT_FALSE(fs::exists(out));
}

TEST(Mkimage, NotesAnImageAboveTheDefaultDeviceLimit) {
    TempDir dir("cxlmgr-mkimage");
    const fs::path out = dir.path() / "fw.bin";
    auto r = run_command({CXLMGR_MKIMAGE_PATH, "EMU FW 9.1", "64M", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.err.find("max_image_size"), std::string::npos) << r.describe();
    EXPECT_EQ(fs::file_size(out), emu::firmware_image_size(64ull << 20));
}

}  // namespace
}  // namespace cxlmgr::testing
