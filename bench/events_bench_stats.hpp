// What events_bench makes of the signals it received: percentiles, and per step whether every
// injected event arrived exactly once, in order, with contiguous sequence numbers, and whether
// what went missing is what the overflow records report.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/events_bench_clients.hpp"
#include "bench/percentiles.hpp"

namespace cxlmgr::bench {

double us(Clock::duration d);
// CPU time of every thread of `pid` (schedstat), in ns.
long long cpu_ns(pid_t pid);

// What one step delivered.
struct StepResult {
    uint64_t received = 0, lost = 0, duplicated = 0, out_of_order = 0, seq_gaps = 0, overflows = 0;
    uint64_t overflow_count = 0;  // what the overflow records say the device dropped
    double injected_per_s = 0, delivered_per_s = 0;
    Percentiles latency_us;
};

// `arrivals` of a step that injected ids [first, first + count), id at sent[id]; `last_seq`
// is the sequence number seen last before (0: none), updated.
StepResult analyse(const std::vector<Arrival>& arrivals,
                   const std::map<uint64_t, Clock::time_point>& sent, uint64_t first,
                   uint64_t count, uint64_t& last_seq);
// " ok: ..." or the findings (LOST, DUPLICATED, OUT OF ORDER, SEQ GAPS).
std::string verdict(const StepResult& r);
void print_row(const char* name, double offered, const StepResult& r);
void print_latency(const char* name, const Percentiles& p);

}  // namespace cxlmgr::bench
