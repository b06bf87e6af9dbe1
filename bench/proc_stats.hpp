// Reads another process's resource use from /proc: CPU seconds (utime + stime from
// /proc/PID/stat) and resident memory (VmRSS from /proc/PID/status). Used to charge the broker
// under test for the work it did during a run. Linux only; every function returns a negative
// value when the process or the field is missing.
#pragma once
#include <sys/types.h>

namespace parley::bench {

// User + system CPU seconds consumed so far by `pid` (all threads).
double processCpuSeconds(pid_t pid);

// Resident set size of `pid` in KiB.
long processRssKib(pid_t pid);

// CPU seconds (user + system) consumed so far by this process.
double selfCpuSeconds();

}  // namespace parley::bench
