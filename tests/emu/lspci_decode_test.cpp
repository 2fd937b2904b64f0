// pciutils, which knows nothing of this project, must decode the emulated device's config space
// as a CXL memory device: the DVSECs as CXL ones and the DOE capability as DOE.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "emu/type3_device.hpp"
#include "pci/config_dump.hpp"

namespace cxlmgr::emu {
namespace {

std::string run(const std::string& command) {
    std::string out;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return out;
    }
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) {
        out.append(buf.data(), n);
    }
    pclose(pipe);
    return out;
}

std::string find_lspci() {
    for (const char* p : {"/usr/bin/lspci", "/usr/sbin/lspci", "/bin/lspci", "/sbin/lspci"}) {
        if (access(p, X_OK) == 0) {
            return p;
        }
    }
    return {};
}

TEST(LspciDecode, EmulatedDeviceDecodesAsCxl) {
    std::string lspci = find_lspci();
    if (lspci.empty()) {
        GTEST_SKIP() << "lspci (pciutils) is not installed; scripts/install-deps.sh installs it";
    }
    auto desc = default_device_description("emu0");
    desc.serial = 0x0102030405060708ull;
    auto model = Type3Device::create(desc);
    ASSERT_TRUE(model.ok());
    pci::EmulatedDevice device(*model);
    auto dump = pci::dump_config_lspci(device.config(), "0000:0d:00.0", "emulated emu0");
    ASSERT_TRUE(dump.ok()) << dump.error().describe();

    auto path = std::filesystem::temp_directory_path() /
                ("cxlmgr-lspci-" + std::to_string(getpid()) + ".txt");
    std::ofstream(path) << *dump;
    std::string out = run(lspci + " -F " + path.string() + " -vvv -nn 2>/dev/null");
    std::filesystem::remove(path);

    EXPECT_NE(out.find("[0502]"), std::string::npos) << out;  // CXL memory class
    EXPECT_NE(out.find("prog-if 10"), std::string::npos) << out;
    EXPECT_NE(out.find("Device Serial Number 01-02-03-04-05-06-07-08"), std::string::npos) << out;
    EXPECT_NE(out.find("Data Object Exchange"), std::string::npos) << out;
    EXPECT_NE(out.find("Vendor=1e98 ID=0000"), std::string::npos) << out;
    EXPECT_NE(out.find("Vendor=1e98 ID=0008"), std::string::npos) << out;
    EXPECT_NE(out.find("Mem+"), std::string::npos) << out;
    EXPECT_NE(out.find("BIR: bar0, ID: component registers"), std::string::npos) << out;
    EXPECT_NE(out.find("BIR: bar2, ID: CXL device registers"), std::string::npos) << out;
    EXPECT_NE(out.find("Express (v2) Endpoint"), std::string::npos) << out;
}

}  // namespace
}  // namespace cxlmgr::emu
