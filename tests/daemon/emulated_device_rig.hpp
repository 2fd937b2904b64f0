// What the daemon tests of the firmware path share: a scratch directory, a deterministic image
// payload, and an emulated device under a ManagedDevice on its own arbiter, opened with a given
// description and closed (drained) before the arbiter stops.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "daemon/arbiter.hpp"
#include "daemon/config.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/firmware_image_source.hpp"
#include "daemon/managed_device.hpp"
#include "emu/device_description.hpp"
#include "emu/type3_device.hpp"

namespace cxlmgr::daemon::testing {

// A directory under /tmp, removed with its contents.
struct ScratchDir {
    std::filesystem::path path;
    ScratchDir() {
        char tmpl[] = "/tmp/cxlmgr-daemon-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
};

inline std::vector<uint8_t> payload_of(size_t n) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) {
        p[i] = static_cast<uint8_t>(i * 7 + 3);
    }
    return p;
}

struct EmulatedDeviceTest : ::testing::Test {
    Arbiter arbiter{2};
    std::shared_ptr<ManagedDevice> device;
    std::shared_ptr<emu::Type3Device> model;
    ScratchDir dir;

    void open(emu::DeviceDescription description, ManagedDeviceOptions options = {}) {
        DeviceSpec spec;
        spec.emulated = std::move(description);
        auto opened = open_device(spec);
        ASSERT_TRUE(opened.ok()) << opened.error().describe();
        model = opened->emulator;
        std::promise<Result<std::shared_ptr<ManagedDevice>>> p;
        ManagedDevice::async_open(
            arbiter, std::move(opened).value(), options,
            [&](Result<std::shared_ptr<ManagedDevice>> r) { p.set_value(std::move(r)); });
        auto r = p.get_future().get();
        ASSERT_TRUE(r.ok()) << r.error().describe();
        device = *r;
    }
    void TearDown() override {
        if (device) {
            std::promise<void> drained;
            device->close([&] { drained.set_value(); });
            drained.get_future().wait();
        }
        arbiter.shutdown();
    }

    std::filesystem::path write_image(const std::vector<uint8_t>& image,
                                      const std::string& name = "fw.bin") {
        auto path = dir.path / name;
        std::ofstream(path, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(image.data()),
                   static_cast<std::streamsize>(image.size()));
        return path;
    }

    std::shared_ptr<ImageSource> source(const std::filesystem::path& path,
                                        ImageLimits limits = {}) {
        auto fd = open_image_path(path.string());
        EXPECT_TRUE(fd.ok()) << fd.error().describe();
        auto s = ImageSource::from_fd(std::move(fd).value(), device->mailbox_executor(), limits);
        EXPECT_TRUE(s.ok()) << s.error().describe();
        return s.ok() ? *s : nullptr;
    }
};

}  // namespace cxlmgr::daemon::testing
