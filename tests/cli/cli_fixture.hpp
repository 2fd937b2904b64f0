// What the tests of tests/cli share: cxlmgrctl against the fixture's daemon, and the JSON Schema
// validator (validate_json.py, python3-jsonschema) against the schemas in tests/cli/schemas.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/daemon_fixture.hpp"

#ifndef CXLMGRCTL_PATH
#error "CXLMGRCTL_PATH (the cxlmgrctl binary) must be defined by the build"
#endif
#ifndef CXLMGR_MKIMAGE_PATH
#error "CXLMGR_MKIMAGE_PATH (the cxlmgr-mkimage binary) must be defined by the build"
#endif
#ifndef CXLMGR_PYTHON3
#error "CXLMGR_PYTHON3 (a python3 with jsonschema) must be defined by the build"
#endif
#ifndef CXLMGR_CLI_DIR
#error "CXLMGR_CLI_DIR (tests/cli in the source tree) must be defined by the build"
#endif

namespace cxlmgr::testing {

class CliTest : public DaemonTest {
protected:
    // cxlmgrctl --bus-address=<this test's bus> args...
    CommandResult ctl(std::vector<std::string> args,
                      std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
        args.insert(args.begin(), {CXLMGRCTL_PATH, "--bus-address=" + address()});
        return run_command(args, timeout);
    }

    static std::string schema(const std::string& name) {
        return std::string(CXLMGR_CLI_DIR) + "/schemas/" + name + ".schema.json";
    }

    // validate_json.py [--lines] SCHEMA FILE on `text` (written to a file of the test's dir).
    CommandResult validate(const std::string& schema_name, const std::string& text,
                           bool lines = false) {
        const auto file = work_dir() / ("doc-" + std::to_string(++documents_) + ".json");
        std::ofstream(file) << text;
        std::vector<std::string> argv = {CXLMGR_PYTHON3,
                                         std::string(CXLMGR_CLI_DIR) + "/validate_json.py"};
        if (lines) {
            argv.emplace_back("--lines");
        }
        argv.push_back(schema(schema_name));
        argv.push_back(file.string());
        return run_command(argv);
    }

    // The validator accepts `text`.
    void expect_valid(const std::string& schema_name, const std::string& text, bool lines = false) {
        auto r = validate(schema_name, text, lines);
        EXPECT_EQ(r.exit_code, 0) << schema_name << " rejects: " << text << "\n" << r.err;
    }
    // The validator rejects `doc` (status 1: invalid, not a broken run).
    void expect_invalid(const std::string& schema_name, const nlohmann::json& doc,
                        const std::string& why) {
        auto r = validate(schema_name, doc.dump());
        EXPECT_EQ(r.exit_code, 1) << schema_name << " accepts a document with " << why << ": "
                                  << doc.dump() << "\n"
                                  << r.describe();
    }

    // cxlmgrctl --json args..., expecting status 0; the output is validated against
    // `schema_name` and returned parsed (null after a failure was recorded).
    nlohmann::json json_of(const std::string& schema_name, std::vector<std::string> args) {
        args.insert(args.begin(), "--json");
        auto r = ctl(args);
        EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << ": " << r.describe();
        if (r.exit_code != 0) {
            return nullptr;
        }
        expect_valid(schema_name, r.out);
        try {
            return nlohmann::json::parse(r.out);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not JSON (" << e.what() << "): " << r.out;
            return nullptr;
        }
    }

    // An emulated-device firmware image of `payload` bytes made by cxlmgr-mkimage.
    std::filesystem::path make_image(const std::string& revision, const std::string& payload) {
        const auto path = work_dir() / ("fw-" + std::to_string(++documents_) + ".bin");
        auto r = run_command({CXLMGR_MKIMAGE_PATH, revision, payload, path.string()});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        return path;
    }

    // busctl call ... Emulator.InjectEvent LOG KIND {dpa: t}.
    void inject(const std::string& device, const std::string& log, const std::string& kind,
                uint64_t dpa) {
        std::vector<std::string> args = {
            "call", kService, device_path(device), "org.cxlmgr1.Emulator", "InjectEvent", "ssa{sv}",
            log,    kind};
        if (kind == "general-media" || kind == "dram") {
            args.insert(args.end(), {"1", "dpa", "t", std::to_string(dpa)});
        } else {
            args.emplace_back("0");
        }
        auto r = busctl(args);
        ASSERT_EQ(r.exit_code, 0) << r.describe();
    }

private:
    int documents_ = 0;
};

}  // namespace cxlmgr::testing
