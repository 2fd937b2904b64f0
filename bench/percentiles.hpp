// Order statistics of a benchmark's samples, for every benchmark here (docs/BENCHMARKS.md asks
// for min/median/max beside p99).
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

namespace cxlmgr::bench {

struct Percentiles {
    size_t n = 0;
    double min = 0, p50 = 0, p99 = 0, max = 0, mean = 0;
};

// All zero for no samples.
inline Percentiles percentiles(std::vector<double> v) {
    Percentiles p;
    if (v.empty()) {
        return p;
    }
    std::sort(v.begin(), v.end());
    p.n = v.size();
    p.min = v.front();
    p.p50 = v[v.size() / 2];
    p.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
    p.max = v.back();
    p.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    return p;
}

}  // namespace cxlmgr::bench
