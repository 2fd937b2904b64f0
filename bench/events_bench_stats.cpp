#include "bench/events_bench_stats.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "harness/daemon_harness.hpp"

namespace cxlmgr::bench {

double us(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

long long cpu_ns(pid_t pid) {
    long long total = 0;
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
        std::istringstream in(testing::read_file(task.path() / "schedstat"));
        long long ns = 0;
        if (in >> ns) {
            total += ns;
        }
    }
    return total;
}

StepResult analyse(const std::vector<Arrival>& arrivals,
                   const std::map<uint64_t, Clock::time_point>& sent, uint64_t first,
                   uint64_t count, uint64_t& last_seq) {
    StepResult r;
    std::map<uint64_t, unsigned> seen;
    std::vector<double> latency;
    uint64_t last_id = 0;
    Clock::time_point last_at = sent.at(first);
    for (const auto& a : arrivals) {
        if (last_seq != 0 && a.seq != last_seq + 1) {
            ++r.seq_gaps;
        }
        last_seq = a.seq;
        if (a.overflow) {
            ++r.overflows;
            r.overflow_count += a.overflow_count;
            continue;
        }
        if (a.id < first || a.id >= first + count) {
            ++r.out_of_order;  // an event of another step arrived within this one
            continue;
        }
        if (seen[a.id]++ != 0) {
            ++r.duplicated;
            continue;
        }
        if (a.id < last_id) {
            ++r.out_of_order;
        }
        last_id = a.id;
        last_at = std::max(last_at, a.at);
        latency.push_back(us(a.at - sent.at(a.id)));
    }
    r.received = seen.size();
    r.lost = count - r.received;
    const double inject_s =
        std::chrono::duration<double>(sent.at(first + count - 1) - sent.at(first)).count();
    r.injected_per_s = inject_s > 0 ? static_cast<double>(count - 1) / inject_s : 0;
    const double deliver_s = std::chrono::duration<double>(last_at - sent.at(first)).count();
    r.delivered_per_s = deliver_s > 0 ? static_cast<double>(r.received) / deliver_s : 0;
    r.latency_us = percentiles(std::move(latency));
    return r;
}

std::string verdict(const StepResult& r) {
    std::string v;
    if (r.lost != 0) {
        v += " LOST " + std::to_string(r.lost);
        if (r.overflow_count == r.lost) {
            v += " (dropped by the full device log, all reported as overflow)";
        } else {
            v += " (overflow records report " + std::to_string(r.overflow_count) + ": " +
                 std::to_string(r.lost > r.overflow_count ? r.lost - r.overflow_count : 0) +
                 " UNREPORTED)";
        }
    }
    if (r.duplicated != 0) {
        v += " DUPLICATED " + std::to_string(r.duplicated);
    }
    if (r.out_of_order != 0) {
        v += " OUT OF ORDER " + std::to_string(r.out_of_order);
    }
    if (r.seq_gaps != 0) {
        v += " SEQ GAPS " + std::to_string(r.seq_gaps);
    }
    if (r.overflows != 0 && r.lost == 0) {
        v += " (overflow records " + std::to_string(r.overflows) + ")";
    }
    return v.empty() ? " ok: each exactly once, in order, seqs contiguous" : v;
}

void print_row(const char* name, double offered, const StepResult& r) {
    char offered_text[32];
    if (offered > 0) {
        std::snprintf(offered_text, sizeof offered_text, "%.0f", offered);
    } else {
        std::snprintf(offered_text, sizeof offered_text, "max");
    }
    std::printf("%-28s %8s %10.0f %10.0f %9.2f %9.2f %9.2f %s\n", name, offered_text,
                r.injected_per_s, r.delivered_per_s, r.latency_us.p50 / 1000,
                r.latency_us.p99 / 1000, r.latency_us.max / 1000, verdict(r).c_str());
    std::fflush(stdout);
}

void print_latency(const char* name, const Percentiles& p) {
    std::printf("%-52s p50 %9.1f  p99 %9.1f  max %9.1f us\n", name, p.p50, p.p99, p.max);
    std::fflush(stdout);
}

}  // namespace cxlmgr::bench
