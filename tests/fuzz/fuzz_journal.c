/*
 * fuzz_journal.c - libFuzzer target: any bytes as a store's journal file
 * (lib/journal.h), which a power loss may leave cut short or full of
 * whatever the disk held.
 *
 * Opening it must never read out of bounds, and every record it hands to
 * the replay must be whole: a ref name of 1 to 1024 bytes, a pack that
 * starts with "PACK" and ends with its own SHA-1, named by it, and an
 * index that ends with its own SHA-1 after the pack's.  Anything else
 * ends the replay quietly.
 *
 *   make fuzz && mkdir -p /tmp/fg-journal &&
 *   tests/fuzz/fuzz_journal-libfuzzer -max_total_time=600 /tmp/fg-journal \
 *       tests/fuzz/seeds/journal
 *
 * The journal is written to a directory under /dev/shm when there is one
 * (its syncs cost nothing there).  Built without libFuzzer
 * (tests/fuzz/replay.c supplies main), the same function is run by 'make
 * check' over the seed files.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], gitdir[80];

static bool
sha1_is(const unsigned char *p, size_t len, const unsigned char *want)
{
	unsigned char sha[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	return EVP_Digest(p, len, sha, &n, EVP_sha1(), NULL) == 1 && n == 20 &&
	    memcmp(sha, want, 20) == 0;
}

static int
check(const struct fg_journal_rec *r, void *arg, struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	size_t n = strlen(r->ref);

	(void)err;
	(*(int *)arg)++;
	if (n == 0 || n > 1024 || r->pack_len < 32 || r->idx_len < 1072 ||
	    memcmp(r->pack, "PACK", 4) != 0 ||
	    !sha1_is(r->pack, r->pack_len - 20, r->pack + r->pack_len - 20) ||
	    !sha1_is(r->idx, r->idx_len - 20, r->idx + r->idx_len - 20) ||
	    memcmp(r->idx + r->idx_len - 40, r->pack + r->pack_len - 20, 20))
		abort();
	git_oid_fmt(hex, (const git_oid *)(const void *)
	    (r->pack + r->pack_len - 20));
	hex[GIT_OID_HEXSZ] = '\0';
	if (strcmp(hex, r->name) != 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_journal *j = NULL;
	char path[128];
	int fd, records = 0;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/fg-fuzz-journal-XXXXXX",
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(gitdir, sizeof(gitdir), "%s/", dir);
	}
	snprintf(path, sizeof(path), "%s%s.0", gitdir, FG_JOURNAL_NAME);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	snprintf(path, sizeof(path), "%s%s.1", gitdir, FG_JOURNAL_NAME);
	unlink(path);
	if (fg_journal_open(&j, gitdir, false, check, &records, &err) == 0) {
		if (fg_journal_pending(j) != (size_t)records)
			abort();
		fg_journal_drop(j);
	}
	return 0;
}
