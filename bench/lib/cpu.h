/*
 * cpu.h - the CPU time benchmarks divide by: user + system seconds of this process
 * (getrusage), so a busy machine does not lower a "per CPU-second" figure the way wall time
 * would. Any thread; nothing is kept.
 */
#ifndef BENCH_CPU_H
#define BENCH_CPU_H

/* User + system CPU seconds of the process so far (0 when getrusage fails). */
double bench_cpu_seconds(void);

#endif
