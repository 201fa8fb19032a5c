/*
 * journal.c - a store's write-ahead journal (see journal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "journal.h"
#include "pack.h"
#include "util.h"
#include "banned.h"

#define SHA1_LEN	20
#define MAGIC		"FGJRNL01"	/* each file's header */
#define MAGIC_LEN	8
#define HDR_LEN		(MAGIC_LEN + 8 + 4)
#define REC_MAGIC	"FGJR"
#define REC_FIXED	(4 + 8 + 8 + 8 + 4 + 4 + 2 * SHA1_LEN)
#define REF_MAX		1024
#define JOURNAL_DATA	4096		/* the first record's offset */
#define JOURNAL_CAP	(8u << 20)	/* a file's records, short of one */
#define GROW_STEP	(1u << 20)	/* zeros written ahead of records */
#define COPY_BUF	(64u << 10)
#define PACK_MIN	(12 + SHA1_LEN)
#define IDX_MIN		(8 + 256 * 4 + 2 * SHA1_LEN)

#define FLAG_HAVE_OLD	0x1
/*
 * A header's generation with this bit holds no records, and says the
 * highest generation the file held: generations are never given out
 * twice, or an old record left further on in a file could pass for the
 * continuation of a new one.  They start at the clock's seconds << 20,
 * for a file whose header was lost.
 */
#define GEN_CLEARED	(1ULL << 63)

/* One of the two files: records go to one while the other is synced. */
struct jfile {
	int fd;
	char *path;
	uint64_t gen;		/* its records', or 0 or GEN_CLEARED | last */
	uint64_t end;		/* where the next record goes */
	uint64_t size;		/* the file's, zero-filled past end */
	size_t records;
};

struct fg_journal {
	struct jfile f[2];
	int cur;		/* the file appended to */
	uint64_t gen;		/* the highest given out */
	pthread_t syncer;	/* checkpointing f[!cur] */
	bool syncing;
	int sync_rc;		/* its outcome: 0 or FG_EIO */
	struct fg_err sync_err;
	bool broken;		/* an append failed: checkpoint first */
};

static uint32_t
crc_of(const unsigned char *p, size_t len)
{
	return (uint32_t)crc32(crc32(0, NULL, 0), p, (uInt)len);
}

static int
pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Write f's header saying generation gen (0: no records); sync when asked. */
static int
write_header(struct jfile *f, uint64_t gen, bool sync, struct fg_err *err)
{
	unsigned char h[HDR_LEN];

	memcpy(h, MAGIC, MAGIC_LEN);
	fg_put_be64(h + MAGIC_LEN, gen);
	fg_put_be32(h + MAGIC_LEN + 8, crc_of(h, MAGIC_LEN + 8));
	if (pwrite_all(f->fd, h, sizeof(h), 0) < 0 ||
	    (sync && fdatasync(f->fd) < 0))
		return fg_err_set(err, FG_EIO, "cannot write '%s': %s",
		    f->path, strerror(errno));
	f->gen = gen;
	return 0;
}

/* Zero-fill f up to at least want, a step at a time. */
static int
grow(struct jfile *f, uint64_t want, struct fg_err *err)
{
	static const unsigned char zeros[COPY_BUF];
	uint64_t to = (want + GROW_STEP - 1) / GROW_STEP * GROW_STEP;
	size_t n;

	while (f->size < to) {
		n = to - f->size < sizeof(zeros) ? (size_t)(to - f->size) :
		    sizeof(zeros);
		if (pwrite_all(f->fd, zeros, n, f->size) < 0)
			return fg_err_set(err, FG_EIO, "cannot write '%s': %s",
			    f->path, strerror(errno));
		f->size += n;
	}
	return 0;
}

/* Copy len bytes of in (from 0) to f at off. */
static int
copy_in(struct jfile *f, int in, uint64_t len, uint64_t off)
{
	unsigned char *buf;
	loff_t ioff = 0, ooff = (loff_t)off;
	ssize_t n;

	while (len > 0) {
		n = copy_file_range(in, &ioff, f->fd, &ooff, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len -= (uint64_t)n;
	}
	if (len == 0)
		return 0;
	/* Not supported here (or a short copy): read and write. */
	buf = malloc(COPY_BUF);
	if (buf == NULL)
		return -1;
	while (len > 0) {
		n = pread(in, buf, len < COPY_BUF ? (size_t)len : COPY_BUF,
		    ioff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || pwrite_all(f->fd, buf, (size_t)n,
		    (uint64_t)ooff) < 0) {
			if (n == 0)
				errno = EIO;
			free(buf);
			return -1;
		}
		ioff += n;
		ooff += n;
		len -= (uint64_t)n;
	}
	free(buf);
	return 0;
}

static bool
sha1_is(const unsigned char *p, size_t len, const unsigned char *want)
{
	unsigned char sha[EVP_MAX_MD_SIZE];
	unsigned int outlen = 0;

	return EVP_Digest(p, len, sha, &outlen, EVP_sha1(), NULL) == 1 &&
	    outlen == SHA1_LEN && memcmp(sha, want, SHA1_LEN) == 0;
}

/*
 * Parse the record at p (avail bytes of the file from there) into r;
 * its length, or 0 when there is no valid record of generation gen.
 */
static uint64_t
parse_record(struct fg_journal_rec *r, char *ref, const unsigned char *p,
    uint64_t avail, uint64_t gen)
{
	uint64_t pack_len, idx_len, hlen, total;
	uint32_t flags, ref_len;

	if (avail < REC_FIXED + 4 || memcmp(p, REC_MAGIC, 4) != 0 ||
	    fg_get_be64(p + 4) != gen)
		return 0;
	pack_len = fg_get_be64(p + 12);
	idx_len = fg_get_be64(p + 20);
	flags = fg_get_be32(p + 28);
	ref_len = fg_get_be32(p + 32);
	if (ref_len == 0 || ref_len > REF_MAX)
		return 0;
	hlen = REC_FIXED + ref_len + 4;
	if (hlen > avail || fg_get_be32(p + hlen - 4) != crc_of(p, hlen - 4))
		return 0;
	if (pack_len < PACK_MIN || idx_len < IDX_MIN ||
	    pack_len > avail - hlen || idx_len > avail - hlen - pack_len)
		return 0;
	total = hlen + pack_len + idx_len;
	memset(r, 0, sizeof(*r));
	memcpy(ref, p + REC_FIXED, ref_len);
	ref[ref_len] = '\0';
	r->ref = ref;
	r->have_old = (flags & FLAG_HAVE_OLD) != 0;
	memcpy(r->old_id.id, p + 36, SHA1_LEN);
	memcpy(r->new_id.id, p + 36 + SHA1_LEN, SHA1_LEN);
	r->pack = p + hlen;
	r->pack_len = (size_t)pack_len;
	r->idx = r->pack + pack_len;
	r->idx_len = (size_t)idx_len;
	/* The pack and index vouch for themselves, and for each other. */
	if (memcmp(r->pack, "PACK", 4) != 0 ||
	    !sha1_is(r->pack, r->pack_len - SHA1_LEN,
	    r->pack + r->pack_len - SHA1_LEN) ||
	    !sha1_is(r->idx, r->idx_len - SHA1_LEN,
	    r->idx + r->idx_len - SHA1_LEN) ||
	    memcmp(r->idx + r->idx_len - 2 * SHA1_LEN,
	    r->pack + r->pack_len - SHA1_LEN, SHA1_LEN) != 0)
		return 0;
	git_oid_fmt(r->name, (const git_oid *)(const void *)
	    (r->pack + r->pack_len - SHA1_LEN));
	r->name[GIT_OID_HEXSZ] = '\0';
	return total;
}

/* Call fn for each valid record of f; f->end is set past the last. */
static int
replay(struct jfile *f, fg_journal_fn fn, void *arg, struct fg_err *err)
{
	struct fg_journal_rec r;
	char ref[REF_MAX + 1];
	unsigned char *map;
	uint64_t off = JOURNAL_DATA, len;
	int rc = 0;

	f->end = JOURNAL_DATA;
	if (f->gen == 0 || (f->gen & GEN_CLEARED) || f->size <= JOURNAL_DATA)
		return 0;
	map = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
	if (map == MAP_FAILED)
		return fg_err_set(err, FG_EIO, "cannot read '%s': %s", f->path,
		    strerror(errno));
	while (rc == 0 && (len = parse_record(&r, ref, map + off,
	    f->size - off, f->gen)) > 0) {
		rc = fn != NULL ? fn(&r, arg, err) : 0;
		off += len;
		f->records++;
	}
	munmap(map, (size_t)f->size);
	f->end = off;
	return rc;
}

/*
 * Open (or create) the file of path and read its header.  A file that is
 * new, or whose header a crash cut short while a checkpoint wrote it
 * (everything was on disk by then), starts over with no records: a
 * zeroed first record, whatever the generation of what follows.
 */
static int
jfile_open(struct jfile *f, const char *path, bool create, bool lock,
    bool *made, struct fg_err *err)
{
	static const unsigned char none[REC_FIXED];
	unsigned char h[HDR_LEN];
	struct stat sb;

	f->path = strdup(path);
	if (f->path == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	/* As git's own files: the umask says who else may write. */
	f->fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0666);
	if (f->fd < 0 && errno == ENOENT)
		return fg_err_set(err, FG_ENOTFOUND, "no journal '%s'", path);
	if (f->fd < 0)
		return fg_err_set(err, errno == EACCES || errno == EPERM ||
		    errno == EROFS ? FG_EDENIED : FG_EIO, "cannot open '%s': %s",
		    path, strerror(errno));
	if (lock && flock(f->fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? fg_err_set(err, FG_EBUSY,
		    "'%s' is in use", path) : fg_err_set(err, FG_EIO,
		    "cannot lock '%s': %s", path, strerror(errno));
	if (fstat(f->fd, &sb) < 0)
		return fg_err_set(err, FG_EIO, "cannot read '%s': %s", path,
		    strerror(errno));
	f->size = (uint64_t)sb.st_size;
	f->end = JOURNAL_DATA;
	if (f->size >= HDR_LEN && pread(f->fd, h, sizeof(h), 0) ==
	    (ssize_t)sizeof(h) && memcmp(h, MAGIC, MAGIC_LEN) == 0 &&
	    fg_get_be32(h + MAGIC_LEN + 8) == crc_of(h, MAGIC_LEN + 8)) {
		f->gen = fg_get_be64(h + MAGIC_LEN);
		return 0;
	}
	*made = true;
	if (grow(f, JOURNAL_DATA + sizeof(none), err) < 0)
		return FG_EIO;
	if (pwrite_all(f->fd, none, sizeof(none), JOURNAL_DATA) < 0)
		return fg_err_set(err, FG_EIO, "cannot write '%s': %s", path,
		    strerror(errno));
	return write_header(f, 0, true, err);
}

static void
jfile_close(struct jfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
}

int
fg_journal_open(struct fg_journal **out, const char *gitdir, bool create,
    fg_journal_fn fn, void *arg, struct fg_err *err)
{
	struct fg_buf b = FG_BUF_INIT;
	struct fg_journal *j;
	bool made = false;
	int i, first, rc = 0;

	*out = NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	j->f[0].fd = j->f[1].fd = -1;
	/* The first file holds the lock, for both. */
	for (i = 0; rc == 0 && i < 2; i++) {
		fg_buf_reset(&b);
		if (fg_buf_printf(&b, "%s%s.%d", gitdir, FG_JOURNAL_NAME, i) < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		else
			rc = jfile_open(&j->f[i], b.ptr, create || i > 0, i == 0,
			    &made, err);
	}
	fg_buf_release(&b);
	if (rc == 0 && made && fg_pack_sync_dir(gitdir) < 0)
		rc = fg_err_set(err, FG_EIO, "cannot sync '%s': %s", gitdir,
		    strerror(errno));
	if (rc < 0) {
		fg_journal_drop(j);
		return rc;
	}
	/* The older generation's records first (a cleared one has none). */
	first = (j->f[1].gen & ~GEN_CLEARED) < (j->f[0].gen & ~GEN_CLEARED);
	rc = replay(&j->f[first], fn, arg, err);
	if (rc == 0)
		rc = replay(&j->f[!first], fn, arg, err);
	if (rc < 0) {
		fg_journal_drop(j);
		return rc;
	}
	j->gen = (uint64_t)time(NULL) << 20;
	for (i = 0; i < 2; i++)
		if ((j->f[i].gen & ~GEN_CLEARED) > j->gen)
			j->gen = j->f[i].gen & ~GEN_CLEARED;
	j->cur = !first;
	*out = j;
	return 0;
}

/* Mark f as holding no records (once they are all on disk). */
static int
jfile_clear(struct jfile *f, struct fg_err *err)
{
	if (write_header(f, f->gen | (f->gen != 0 ? GEN_CLEARED : 0), true,
	    err) < 0)
		return FG_EIO;
	f->end = JOURNAL_DATA;
	f->records = 0;
	return 0;
}

/* Sync the file system of f: what its records hold is then on disk. */
static int
sync_all(const struct jfile *f, struct fg_err *err)
{
	if (syncfs(f->fd) < 0)
		return fg_err_set(err, FG_EIO, "cannot sync the file system of "
		    "'%s': %s", f->path, strerror(errno));
	return 0;
}

static void *
syncer_main(void *arg)
{
	struct fg_journal *j = arg;
	sigset_t all;

	/* Signals are for the program's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	j->sync_rc = sync_all(&j->f[!j->cur], &j->sync_err);
	if (j->sync_rc == 0)
		j->sync_rc = jfile_clear(&j->f[!j->cur], &j->sync_err);
	return NULL;
}

/* Wait for the background checkpoint, if any; its outcome. */
static int
syncer_join(struct fg_journal *j, struct fg_err *err)
{
	if (!j->syncing)
		return 0;
	pthread_join(j->syncer, NULL);
	j->syncing = false;
	if (j->sync_rc < 0) {
		if (err != NULL)
			*err = j->sync_err;
		j->broken = true;
	}
	return j->sync_rc;
}

int
fg_journal_checkpoint(struct fg_journal *j, struct fg_err *err)
{
	int i, rc;

	rc = syncer_join(j, err);
	if (rc == 0)
		rc = sync_all(&j->f[0], err);
	for (i = 0; rc == 0 && i < 2; i++)
		if ((j->f[i].gen != 0 && !(j->f[i].gen & GEN_CLEARED)) ||
		    j->f[i].records > 0)
			rc = jfile_clear(&j->f[i], err);
	j->broken = rc < 0;
	return rc;
}

/*
 * Make room for need bytes: a full file hands over to the other, whose
 * checkpoint must be over, and is checkpointed in the background.
 */
static int
make_room(struct fg_journal *j, uint64_t need, struct fg_err *err)
{
	struct jfile *f = &j->f[j->cur];
	pthread_attr_t a;

	if (j->broken)
		return fg_journal_checkpoint(j, err);
	if (f->records == 0 || f->end + need <= JOURNAL_CAP)
		return 0;
	if (syncer_join(j, err) < 0)
		return fg_journal_checkpoint(j, err);
	j->cur = !j->cur;
	j->sync_rc = 0;
	if (pthread_attr_init(&a) == 0) {
		pthread_attr_setstacksize(&a, 64 * 1024);
		j->syncing = pthread_create(&j->syncer, &a, syncer_main, j) == 0;
		pthread_attr_destroy(&a);
	}
	if (!j->syncing && (sync_all(f, err) < 0 || jfile_clear(f, err) < 0)) {
		j->broken = true;
		return FG_EIO;
	}
	return 0;
}

bool
fg_journal_exists(const char *gitdir)
{
	struct fg_buf b = FG_BUF_INIT;
	bool there;

	there = fg_buf_printf(&b, "%s%s.0", gitdir, FG_JOURNAL_NAME) == 0 &&
	    access(b.ptr, F_OK) == 0;
	fg_buf_release(&b);
	return there;
}

int
fg_journal_append(struct fg_journal *j, const char *ref, const git_oid *old,
    const git_oid *new_id, int pack_fd, int idx_fd, struct fg_err *err)
{
	unsigned char h[REC_FIXED + REF_MAX + 4];
	size_t ref_len = strlen(ref), hlen = REC_FIXED + ref_len + 4;
	struct stat ps, is;
	struct jfile *f;
	uint64_t need;

	if (ref_len == 0 || ref_len > REF_MAX)
		return fg_err_set(err, FG_EINVALID, "ref name too long for the "
		    "journal");
	if (fstat(pack_fd, &ps) < 0 || fstat(idx_fd, &is) < 0)
		return fg_err_set(err, FG_EIO, "cannot read a pack for the "
		    "journal: %s", strerror(errno));
	if (ps.st_size < PACK_MIN || is.st_size < IDX_MIN)
		return fg_err_set(err, FG_EINVALID, "no pack for the journal");
	need = hlen + (uint64_t)ps.st_size + (uint64_t)is.st_size;
	if (make_room(j, need, err) < 0)
		return FG_EIO;
	f = &j->f[j->cur];
	/*
	 * Whatever fails from here may leave part of a record: nothing is
	 * appended after it until a checkpoint has made it stale.
	 */
	j->broken = true;
	if (f->records == 0 && write_header(f, j->gen + 1, false, err) < 0)
		return FG_EIO;
	if (f->records == 0)
		j->gen = f->gen;
	memcpy(h, REC_MAGIC, 4);
	fg_put_be64(h + 4, f->gen);
	fg_put_be64(h + 12, (uint64_t)ps.st_size);
	fg_put_be64(h + 20, (uint64_t)is.st_size);
	fg_put_be32(h + 28, old != NULL ? FLAG_HAVE_OLD : 0);
	fg_put_be32(h + 32, (uint32_t)ref_len);
	if (old != NULL)
		memcpy(h + 36, old->id, SHA1_LEN);
	else
		memset(h + 36, 0, SHA1_LEN);
	memcpy(h + 36 + SHA1_LEN, new_id->id, SHA1_LEN);
	memcpy(h + REC_FIXED, ref, ref_len);
	fg_put_be32(h + hlen - 4, crc_of(h, hlen - 4));
	if (grow(f, f->end + need, err) < 0)
		return FG_EIO;
	if (pwrite_all(f->fd, h, hlen, f->end) < 0 ||
	    copy_in(f, pack_fd, (uint64_t)ps.st_size, f->end + hlen) < 0 ||
	    copy_in(f, idx_fd, (uint64_t)is.st_size, f->end + hlen +
	    (uint64_t)ps.st_size) < 0 || fdatasync(f->fd) < 0)
		return fg_err_set(err, FG_EIO, "cannot write '%s': %s",
		    f->path, strerror(errno));
	j->broken = false;
	f->end += need;
	f->records++;
	return 0;
}

int
fg_journal_trim(struct fg_journal *j, struct fg_err *err)
{
	int i, rc;

	rc = syncer_join(j, err);
	if (rc == 0 && (fg_journal_pending(j) > 0 || j->broken))
		rc = fg_journal_checkpoint(j, err);
	/* Stale records past the first step go; a crash may keep them. */
	for (i = 0; rc == 0 && i < 2; i++) {
		if (j->f[i].size <= GROW_STEP)
			continue;
		if (ftruncate(j->f[i].fd, GROW_STEP) < 0)
			return fg_err_set(err, FG_EIO, "cannot truncate '%s': %s",
			    j->f[i].path, strerror(errno));
		j->f[i].size = GROW_STEP;
	}
	return rc;
}

size_t
fg_journal_pending(const struct fg_journal *j)
{
	return j->f[0].records + j->f[1].records;
}

int
fg_journal_close(struct fg_journal *j, struct fg_err *err)
{
	int rc;

	if (j == NULL)
		return 0;
	/* A hook that found nothing to replay must not sync the disk. */
	rc = fg_journal_trim(j, err);
	fg_journal_drop(j);
	return rc;
}

void
fg_journal_drop(struct fg_journal *j)
{
	if (j == NULL)
		return;
	syncer_join(j, NULL);
	jfile_close(&j->f[0]);
	jfile_close(&j->f[1]);
	free(j);
}
