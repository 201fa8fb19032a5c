/*
 * gitmap.c - let go of the pages of the pack indexes libgit2 has mapped
 * (see gitmap.h).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gitmap.h"
#include "banned.h"

#ifdef FG_STATIC_GIT2
/* libgit2's git_map on POSIX systems, and a flag (src/util/map.h). */
#define GIT_PROT_WRITE	0x2

struct git_map_ {
	void *data;
	size_t len;
};

int __real_p_mmap(struct git_map_ *out, size_t len, int prot, int flags,
    int fd, int64_t offset);
int __real_p_munmap(struct git_map_ *map);
int __wrap_p_mmap(struct git_map_ *out, size_t len, int prot, int flags,
    int fd, int64_t offset);
int __wrap_p_munmap(struct git_map_ *map);

static struct {
	pthread_mutex_t mu;
	struct git_map_ *v;
	size_t n, cap;
} maps = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

int
__wrap_p_mmap(struct git_map_ *out, size_t len, int prot, int flags, int fd,
    int64_t offset)
{
	struct git_map_ *v;
	int rc;

	pthread_mutex_lock(&maps.mu);
	rc = __real_p_mmap(out, len, prot, flags, fd, offset);
	/*
	 * out->len equal to len checks the layout above as well as
	 * anything can: advising wrong addresses could zero live memory.
	 */
	if (rc == 0 && offset == 0 && !(prot & GIT_PROT_WRITE) &&
	    out->len == len && len >= 8 &&
	    memcmp(out->data, "\377tOc", 4) == 0) {
		/* Out of memory, it is simply not trimmed. */
		if (maps.n == maps.cap) {
			v = realloc(maps.v, (maps.cap ? 2 * maps.cap : 64) *
			    sizeof(*v));
			if (v != NULL) {
				maps.v = v;
				maps.cap = maps.cap ? 2 * maps.cap : 64;
			}
		}
		if (maps.n < maps.cap)
			maps.v[maps.n++] = *out;
	}
	pthread_mutex_unlock(&maps.mu);
	return rc;
}

int
__wrap_p_munmap(struct git_map_ *map)
{
	size_t i;
	int rc;

	pthread_mutex_lock(&maps.mu);
	for (i = 0; i < maps.n; i++)
		if (maps.v[i].data == map->data) {
			maps.v[i] = maps.v[--maps.n];
			break;
		}
	rc = __real_p_munmap(map);
	pthread_mutex_unlock(&maps.mu);
	return rc;
}

/*
 * Under the lock, which p_munmap() takes too: no index is unmapped, and
 * its addresses given to something else, while it is advised.
 */
size_t
fg_gitmap_trim(void)
{
	size_t i, n;

	pthread_mutex_lock(&maps.mu);
	for (i = 0; i < maps.n; i++)
		madvise(maps.v[i].data, maps.v[i].len, MADV_DONTNEED);
	n = maps.n;
	pthread_mutex_unlock(&maps.mu);
	return n;
}
#else
size_t
fg_gitmap_trim(void)
{
	return 0;
}
#endif
