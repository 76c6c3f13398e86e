#include "t.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *current;
static int current_failed, current_skipped, passed, failed;

void t_begin(const char *name)
{
	current = name;
	current_failed = 0;
	current_skipped = 0;
}

void t_end(void)
{
	if (current_skipped)
		return;
	if (current_failed) {
		failed++;
	} else {
		passed++;
		printf("PASS %s\n", current);
	}
	fflush(stdout);
}

const char *t_name(void)
{
	return current;
}

int t_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return 1;
	if (!current_failed)
		printf("FAIL %s: ", current);
	else
		printf("     %s: ", current);
	printf("%s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	current_failed = 1;
	return 0;
}

void t_skip(const char *why)
{
	printf("SKIP %s: %s\n", current, why);
	current_skipped = 1;
}

static char tmp_dir[] = "/tmp/koban-test-XXXXXX";
static int tmp_made;

const char *t_tmp_dir(void)
{
	if (!tmp_made) {
		if (!mkdtemp(tmp_dir)) {
			t_check(0, __FILE__, __LINE__, "cannot make a scratch directory");
			return NULL;
		}
		tmp_made = 1;
	}
	return tmp_dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int t_done(void)
{
	if (tmp_made && nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", tmp_dir);
	return failed ? 1 : 0;
}

static const char *dir_from_env(const char *var, const char *fallback)
{
	const char *d = getenv(var);

	return d && *d ? d : fallback;
}

const char *t_data_dir(void)
{
	return dir_from_env("KOBAN_TEST_DATA", "tests/data");
}

const char *t_shared_dir(void)
{
	const char *d = dir_from_env("KOBAN_SHARED_DATA", "../shared/data");
	struct stat st;

	return stat(d, &st) == 0 && S_ISDIR(st.st_mode) ? d : NULL;
}

char *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)n + 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		if (p) {
			p[n] = '\0';
			if (len)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return p;
}
