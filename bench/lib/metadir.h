/*
 * metadir.h - the temporary data directory a benchmark opened koban.db in (store/meta.h):
 * removed with the database and its WAL files once the benchmark is done. Nothing is kept;
 * any thread.
 */
#ifndef BENCH_METADIR_H
#define BENCH_METADIR_H

/* Removes koban.db, its -wal and -shm files and then dir; a failure is printed, as who. */
void bench_metadir_remove(const char *dir, const char *who);

#endif
