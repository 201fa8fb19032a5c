/*
 * replay.c - run a libFuzzer target over files, without libFuzzer.
 *
 * 'make check' builds each tests/fuzz/fuzz_*.c with this main and feeds it
 * the seed files named on the command line, so the harness stays compiled
 * and the seeds stay crash-free even where clang is not installed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <git2.h>

#include "buf.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	struct fg_err err = FG_ERR_INIT;
	int i, n = 0, bad = 0;

	git_libgit2_init();
	for (i = 1; i < argc; i++) {
		struct fg_buf b = FG_BUF_INIT;

		if (fg_read_file(&b, argv[i], 16 << 20, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			bad++;
			continue;
		}
		/* As libFuzzer does, never a null pointer, even for 0 bytes. */
		LLVMFuzzerTestOneInput(b.ptr != NULL ? (const uint8_t *)b.ptr :
		    (const uint8_t *)"", b.len);
		fg_buf_release(&b);
		n++;
	}
	git_libgit2_shutdown();
	printf("fg-test: %s %d passed, %d failed\n", argv[0], n, bad);
	return bad != 0;
}
