/*
 * fuzz_taxii.c - libFuzzer target for the TAXII 2.1 envelope reader and the paging step
 * it feeds: any input is read or refused with a message, and a page read is stepped
 * through the paging state (with the input's first line as the date header) without
 * crashing and with a query that can be built.
 */
#include "enrich/taxii.h"
#include "core/buf.h"
#include "core/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_ti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct taxii_page page;
	struct taxii_paging pg;
	struct stix_stats st;
	struct buf q = BUF_INIT(8192);
	struct err e = ERR_INIT;
	enum taxii_step step;
	char date[TAXII_TIME_MAX + 8];
	size_t n = 0;
	int rc;

	rc = taxii_envelope_read((const char *)data, size, &fuzz_ti_sink, &page, &st, &e);
	if (rc < 0 && !e.msg[0])
		abort();
	if (rc < 0)
		return 0;
	while (n < size && n < sizeof(date) - 1 && data[n] != '\n' && data[n])
		n++;
	memcpy(date, data, n);
	date[n] = '\0';
	if (taxii_paging_init(&pg, NULL, &e) < 0)
		abort();
	rc = taxii_paging_step(&pg, &page, date, &step, &e);
	if ((rc < 0 && step != TAXII_DONE) || (step == TAXII_FETCH && !page.more))
		abort();
	if (taxii_paging_query(&pg, 100, &q, &e) < 0)
		abort();
	buf_release(&q);
	return 0;
}
