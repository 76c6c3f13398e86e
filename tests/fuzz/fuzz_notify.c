/*
 * fuzz_notify.c - libFuzzer target for the notices the engine renders (notify/notify.c,
 * notify_render): the input is split at NUL bytes into an incident's title, evidence (the
 * JSON array triage writes, with sentences made of logged bytes), entities (a JSON object of
 * user, host and address lists), the first report and the rule id, and rendered with the
 * bundled templates in Japanese and English. Any input renders or is refused with -ENOSPC;
 * the subject and the speech are one line; the HTML part holds the title escaped (&, <, >,
 * quotes), so no markup of the logs reaches a mail reader.
 */
#include "notify/notify.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "store/meta.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct notify *engine(void)
{
	static struct notify *n;
	static struct config c;
	static char dir[] = "/tmp/koban-fuzz-notify-XXXXXX";
	char text[256];
	struct err e = ERR_INIT;

	if (n)
		return n;
	if (!mkdtemp(dir))
		abort();
	snprintf(text, sizeof(text), "data_dir: %s\n", dir);
	if (config_load_mem(&c, text, strlen(text), "fuzz.yml", &e) < 0)
		abort();
	{
		const struct notify_config nc = { .cfg = &c };

		if (notify_new(&n, &nc, &e) < 0)
			abort();
	}
	return n;
}

static void one_line(const struct buf *b)
{
	if (memchr(b->p, '\n', b->len) || memchr(b->p, '\r', b->len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 6), *field[5];
	struct buf parts[4];
	size_t k = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(copy + size, 0, 6);
	field[0] = copy;
	for (size_t i = 0; i < size + 5 && k < 4; i++)
		if (!copy[i])
			field[++k] = copy + i + 1;
	while (k < 4)
		field[++k] = copy + size + 5;
	struct buf esc;

	buf_init(&esc, 1 << 20);
	for (const char *p = field[0]; *p; p++) {
		const char *r = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" :
				*p == '"' ? "&quot;" : *p == '\'' ? "&#39;" : NULL;

		if (r)
			buf_adds(&esc, r);
		else
			buf_addch(&esc, *p);
	}
	for (int lang = 0; lang < 2; lang++) {
		const struct meta_incident inc = {
			.id = 42, .tenant = "fuzz", .title = field[0], .evidence = field[1],
			.entities = field[2], .rule_id = field[4], .level = (int)(size % 4),
			.status = "new", .decided_ns = (int64_t)size * 1000000000,
		};
		struct err e = ERR_INIT;
		int rc;

		for (int i = 0; i < 4; i++)
			buf_init(&parts[i], 1 << 22);
		rc = notify_render(engine(), &inc, lang ? "en" : "ja", *field[3] ? field[3] : NULL,
				   "https://soc.example/ack/TOKEN", NULL, &parts[0], &parts[1],
				   &parts[2], &parts[3], &e);
		if (rc < 0 && rc != -ENOSPC && rc != -ENOMEM)
			abort();
		if (rc == 0) {
			one_line(&parts[0]);
			one_line(&parts[3]);
			if (!memmem(parts[2].p, parts[2].len, esc.p, esc.len))
				abort(); /* the title is in the HTML part, escaped */
		}
		for (int i = 0; i < 4; i++)
			buf_release(&parts[i]);
	}
	buf_release(&esc);
	free(copy);
	return 0;
}
