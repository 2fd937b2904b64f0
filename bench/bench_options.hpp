// The benchmarks' command lines: "--name VALUE" pairs of numbers, each within its bounds. One
// parser for all of them, so every benchmark refuses the same way (usage on stderr, exit 2)
// whatever was wrong: an unknown name, a value out of bounds or not a number, a name without a
// value.
#pragma once

#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <string>
#include <string_view>

namespace cxlmgr::bench {

struct NumericOption {
    std::string_view name;  // "--runs"
    double min;
    double max;
    std::function<void(double)> set;  // called with a value within [min, max]
};

// Applies argv's options; false, after printing "usage: <usage>", when anything is wrong.
inline bool parse_numeric_options(int argc, char** argv, std::initializer_list<NumericOption> known,
                                  std::string_view usage) {
    auto refuse = [usage] {
        std::cerr << "usage: " << usage << "\n";
        return false;
    };
    if (argc % 2 == 0) {
        return refuse();
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view name = argv[i];
        char* end = nullptr;
        const double value = std::strtod(argv[i + 1], &end);
        const NumericOption* option = nullptr;
        for (const auto& o : known) {
            if (o.name == name) {
                option = &o;
            }
        }
        if (option == nullptr || end == argv[i + 1] || *end != '\0' || value < option->min ||
            value > option->max) {
            return refuse();
        }
        option->set(value);
    }
    return true;
}

}  // namespace cxlmgr::bench
