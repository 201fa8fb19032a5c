/*
 * proc.c - child processes without a shell, checkouts to run them in (see
 * proc.h).
 *
 * Everything the child needs (resolved program path, argv, environment,
 * descriptors) is prepared before fork(), so the child between fork and
 * exec only calls async-signal-safe functions: the daemon forks from
 * worker threads, and a child of a multi-threaded process that touched
 * malloc could deadlock on a lock another thread held.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "util.h"
#include "banned.h"

void (*fg_proc__probe)(const char *phase);

/* How often the wait loop looks at a child that closed its output. */
#define TICK_MS 20

/* Bytes read from the pipe at a time. */
#define CHUNK 16384

/* The variables a child inherits from us; everything else is dropped. */
static const char *const inherited[] = { "PATH", "HOME", "LANG" };

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* What the child reports through the status pipe when it cannot exec. */
enum child_stage {
	STAGE_CHDIR = 1,
	STAGE_EXEC = 2,
	STAGE_SETUP = 3,
};

struct child_report {
	int stage;
	int error;
};

/* Everything the child uses, ready before fork. */
struct spawn {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *dir;
	int in, out, report;
	int maxfd;
	pid_t parent;			/* us, for the parent-death check */
};

/* The tail of the output: the last keep bytes, and how many came in. */
struct tail {
	char *buf;
	size_t len, cap, keep;
	uint64_t total;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static size_t
key_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq != NULL ? (size_t)(eq - entry) : strlen(entry);
}

/*
 * Set or remove one entry of the environment being built.  v has room for
 * FG_PROC_ARGS_MAX + FG_ARRAY_SIZE(inherited) entries plus the NULL.
 */
static int
env_put(char **v, size_t *n, const char *entry)
{
	size_t klen = key_len(entry), i;
	char *copy = NULL;

	if (entry[klen] == '=') {
		copy = fg_strdup(entry);
		if (copy == NULL)
			return FG_ENOMEM;
	}
	for (i = 0; i < *n; i++) {
		if (key_len(v[i]) == klen && strncmp(v[i], entry, klen) == 0)
			break;
	}
	if (i < *n) {
		free(v[i]);
		if (copy != NULL) {
			v[i] = copy;
			return 0;
		}
		/* A bare KEY removes it: move the last entry here. */
		v[i] = v[--*n];
		v[*n] = NULL;
		return 0;
	}
	if (copy != NULL)
		v[(*n)++] = copy;
	return 0;
}

static int
build_env(char ***out, const char *const *extra, struct fg_err *err)
{
	char **v = NULL, *e = NULL;
	size_t n = 0, i, nextra = 0;
	int rc = 0;

	*out = NULL;
	while (extra != NULL && extra[nextra] != NULL)
		nextra++;
	if (nextra > FG_PROC_ARGS_MAX)
		return fg_err_set(err, FG_ELIMIT, "more than %d environment "
		    "entries", FG_PROC_ARGS_MAX);
	v = calloc(nextra + FG_ARRAY_SIZE(inherited) + 1, sizeof(*v));
	if (v == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	for (i = 0; i < FG_ARRAY_SIZE(inherited); i++) {
		const char *val = getenv(inherited[i]);
		struct fg_buf b = FG_BUF_INIT;

		if (val == NULL && strcmp(inherited[i], "PATH") == 0)
			val = DEFAULT_PATH;
		if (val == NULL)
			continue;
		if (fg_buf_printf(&b, "%s=%s", inherited[i], val) != 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		e = fg_buf_detach(&b, NULL);
		if (e == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		v[n++] = e;
	}
	for (i = 0; i < nextra; i++) {
		if (key_len(extra[i]) == 0) {
			rc = fg_err_set(err, FG_EINVALID, "environment entry "
			    "'%s' has no name", extra[i]);
			goto out;
		}
		if (env_put(v, &n, extra[i]) != 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = v;
	v = NULL;
out:
	strv_free(v);
	return rc;
}

static bool
is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

/*
 * Find name in the PATH of the child's environment, as execvp() would but
 * before fork (no allocation in the child) and skipping empty and relative
 * entries.  *out is the caller's.
 */
static int
resolve(char **out, const char *name, char *const *envp, struct fg_err *err)
{
	const char *path = DEFAULT_PATH, *p, *end;
	struct fg_buf b = FG_BUF_INIT;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (strchr(name, '/') != NULL) {
		*out = fg_strdup(name);
		return *out != NULL ? 0 :
		    fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (p = path; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		if (*p != '/')
			continue;
		fg_buf_reset(&b);
		if (fg_buf_add(&b, p, (size_t)(end - p)) != 0 ||
		    fg_buf_printf(&b, "/%s", name) != 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		if (is_executable_file(b.ptr)) {
			*out = fg_buf_detach(&b, NULL);
			if (*out == NULL)
				rc = fg_err_set(err, FG_ENOMEM,
				    "out of memory");
			goto out;
		}
	}
	rc = fg_err_set(err, FG_ENOTFOUND, "no program '%s' in PATH '%s'",
	    name, path);
out:
	fg_buf_release(&b);
	return rc;
}

/*
 * Move fd above the standard descriptors, close-on-exec.  A process that
 * started with 0, 1 or 2 closed gets them back from pipe() and open(), and
 * the child's dup2() onto 0..2 would then clobber one with another.
 */
static int
above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static void
child_fail(int report, int stage)
{
	struct child_report r;
	ssize_t n;

	r.stage = stage;
	r.error = errno;
	n = write(report, &r, sizeof(r));
	(void)n;
	_exit(127);
}

/*
 * In a child before exec: every signal at its default action and none
 * blocked, whatever the parent had set (async-signal-safe).
 */
static void
signals_default(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
child(const struct spawn *s)
{
	int fd;

	setpgid(0, 0);
	/*
	 * If we die (kill -9 of the CLI), the kernel kills the command:
	 * SIGKILL, since a command left running would go on deploying with
	 * nobody to record its end.  We may have died before the prctl(); then
	 * we were already replaced as parent, and the child goes too.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		child_fail(s->report, STAGE_SETUP);
	if (getppid() != s->parent)
		_exit(127);
	signals_default();
	if (dup2(s->in, 0) < 0 || dup2(s->out, 1) < 0 || dup2(s->out, 2) < 0)
		child_fail(s->report, STAGE_SETUP);
	/* Descriptors the parent opened without O_CLOEXEC stay ours. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
		for (fd = 3; fd < s->maxfd; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (s->dir != NULL && chdir(s->dir) != 0)
		child_fail(s->report, STAGE_CHDIR);
	execve(s->path, s->argv, s->envp);
	child_fail(s->report, STAGE_EXEC);
}

static int
tail_init(struct tail *t, size_t max, const char *const *secrets)
{
	size_t longest = 1, i;

	memset(t, 0, sizeof(*t));
	for (i = 0; secrets != NULL && secrets[i] != NULL; i++)
		if (strlen(secrets[i]) > longest)
			longest = strlen(secrets[i]);
	if (longest > FG_PROC_OUTPUT_LIMIT)
		return FG_ELIMIT;
	/*
	 * Keep longest - 1 bytes more than asked: a secret cut by the cap
	 * has its head there and can still be recognised and masked.
	 */
	t->keep = max + longest - 1;
	t->cap = 2 * t->keep + CHUNK;
	t->buf = malloc(t->cap);
	return t->buf != NULL ? 0 : FG_ENOMEM;
}

static void
tail_add(struct tail *t, const char *data, size_t n)
{
	t->total += n;
	if (t->len + n > t->cap) {
		size_t keep = t->len < t->keep ? t->len : t->keep;

		memmove(t->buf, t->buf + t->len - keep, keep);
		t->len = keep;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
}

static size_t
secret_at(const char *w, size_t len, size_t i, const char *const *secrets)
{
	size_t best = 0, k, sl;

	for (k = 0; secrets != NULL && secrets[k] != NULL; k++) {
		sl = strlen(secrets[k]);
		if (sl > best && sl > 0 && sl <= len - i &&
		    memcmp(w + i, secrets[k], sl) == 0)
			best = sl;
	}
	return best;
}

/*
 * Copy the last max raw bytes of the window into out, each secret as
 * "***".  A secret starting in the extra head bytes but reaching into the
 * kept part is masked too.
 */
static int
tail_finish(struct fg_proc_result *out, const struct tail *t, size_t max,
    const char *const *secrets)
{
	size_t wlen = t->len < t->keep ? t->len : t->keep;
	const char *w = t->buf + t->len - wlen;
	size_t from = wlen > max ? wlen - max : 0, i = 0, m;

	out->total = t->total;
	out->dropped = t->total - (wlen - from);
	while (i < wlen) {
		m = secret_at(w, wlen, i, secrets);
		if (m > 0) {
			if (i + m > from &&
			    fg_buf_puts(&out->output, "***") != 0)
				return FG_ENOMEM;
			i += m;
			continue;
		}
		if (i >= from && fg_buf_putc(&out->output, w[i]) != 0)
			return FG_ENOMEM;
		i++;
	}
	return 0;
}

static void
result_init(struct fg_proc_result *r)
{
	memset(r, 0, sizeof(*r));
	r->status = -1;
	fg_buf_init(&r->output);
}

void
fg_proc_result_release(struct fg_proc_result *r)
{
	if (r == NULL)
		return;
	fg_buf_release(&r->output);
	result_init(r);
}

static int
exec_error(const struct child_report *r, const struct fg_proc_opts *opts,
    const char *path, struct fg_err *err)
{
	int code = r->error == ENOENT || r->error == ENOTDIR ? FG_ENOTFOUND :
	    r->error == EACCES || r->error == EPERM ? FG_EDENIED : FG_EIO;

	if (r->stage == STAGE_CHDIR)
		return fg_err_set(err, code, "cannot enter directory '%s': "
		    "%s", opts->dir, strerror(r->error));
	if (r->stage == STAGE_EXEC && r->error == ENOEXEC)
		return fg_err_set(err, FG_EDENIED, "cannot run '%s': not an "
		    "executable (a script needs a '#!' line)", path);
	if (r->stage == STAGE_EXEC)
		return fg_err_set(err, code, "cannot run '%s': %s", path,
		    strerror(r->error));
	return fg_err_set(err, FG_EIO, "cannot set up '%s': %s", path,
	    strerror(r->error));
}

/*
 * Read output and wait for the child, enforcing the time limit.  Returns
 * with the child reaped and the pipe closed, except when waitpid() fails
 * (SIGCHLD ignored): FG_EIO.
 */
static int
supervise(struct fg_proc_result *out, struct tail *t, pid_t pid, int *fd,
    unsigned timeout_ms, int64_t start, struct fg_err *err)
{
	int64_t deadline = timeout_ms > 0 ? start + timeout_ms : INT64_MAX;
	int64_t kill_at = INT64_MAX, drain_until = INT64_MAX;
	char chunk[CHUNK];
	bool reaped = false;
	int status = 0, pidfd;

	/*
	 * The output pipe closes a moment before the child can be reaped;
	 * a pidfd tells when it can (Linux 5.3), so no 2 ms nap per command.
	 */
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
	pidfd = -1;
#endif

	while (!reaped || *fd >= 0) {
		int64_t now = now_ms(), wait = TICK_MS;
		pid_t r;

		if (!reaped && !out->timed_out && now >= deadline) {
			out->timed_out = true;
			killpg(pid, SIGTERM);
			kill_at = now + FG_PROC_KILL_GRACE_MS;
		}
		if (!reaped && now >= kill_at) {
			killpg(pid, SIGKILL);
			kill_at = INT64_MAX;
		}
		if (reaped && now >= drain_until) {
			/* Leftovers of the command hold the pipe open. */
			killpg(pid, SIGKILL);
			close(*fd);
			*fd = -1;
			break;
		}
		if (!reaped && !out->timed_out && deadline - now < wait)
			wait = deadline - now;
		if (!reaped && kill_at - now < wait)
			wait = kill_at - now;
		if (wait < 0)
			wait = 0;
		if (*fd >= 0) {
			struct pollfd pfd = { *fd, POLLIN, 0 };
			ssize_t n;

			if (poll(&pfd, 1, (int)wait) > 0) {
				n = read(*fd, chunk, sizeof(chunk));
				if (n > 0) {
					tail_add(t, chunk, (size_t)n);
				} else if (n == 0 || (errno != EINTR &&
				    errno != EAGAIN)) {
					close(*fd);
					*fd = -1;
				}
			}
		} else if (pidfd >= 0) {
			/* Readable when the child has exited: no sleeping. */
			struct pollfd pfd = { pidfd, POLLIN, 0 };

			(void)poll(&pfd, 1, (int)wait);
		} else {
			struct timespec ts = { 0, 200 * 1000L };

			nanosleep(&ts, NULL);
		}
		if (reaped)
			continue;
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			reaped = true;
			out->duration_ms = now_ms() - start;
			drain_until = now_ms() + FG_PROC_KILL_GRACE_MS;
		} else if (r < 0 && errno != EINTR) {
			killpg(pid, SIGKILL);
			if (pidfd >= 0)
				close(pidfd);
			return fg_err_set(err, FG_EIO, "cannot wait for child "
			    "%ld: %s", (long)pid, strerror(errno));
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	if (WIFEXITED(status)) {
		out->exited = true;
		out->status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		out->signal = WTERMSIG(status);
	}
	return 0;
}

/*
 * Starting a child.  fork() copies our page tables, which in a process
 * that has mapped a repository's packs and grown a heap costs ~2 ms, and
 * the copy is thrown away by the exec that follows.  So the child shares
 * our memory until it execs, the way posix_spawn() does it: clone() with
 * CLONE_VM | CLONE_VFORK on a stack of its own, while the calling thread
 * waits (other threads run on).  What the child does before exec is
 * system calls on its own stack and on memory the waiting thread owns
 * (child() above), no malloc, no lock.  Its signal handlers are its own
 * copy (no CLONE_SIGHAND), so resetting them leaves ours alone.  Built
 * with AddressSanitizer, whose interceptors keep state a memory-sharing
 * child must not touch, it forks as before.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SPAWN_SHARES_MEMORY 0
#else
#define SPAWN_SHARES_MEMORY 1
#endif

#if SPAWN_SHARES_MEMORY
#define SPAWN_STACK (64 * 1024)

struct clone_stack {
	void *base;
	size_t size;
};

static int
stack_get(struct clone_stack *cs)
{
	cs->size = SPAWN_STACK;
	cs->base = mmap(NULL, cs->size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (cs->base == MAP_FAILED) {
		cs->base = NULL;
		return -1;
	}
	return 0;
}

static void
stack_put(struct clone_stack *cs)
{
	if (cs->base != NULL)
		munmap(cs->base, cs->size);
	cs->base = NULL;
}

/* The stack grows down: its top, aligned. */
static void *
stack_top(const struct clone_stack *cs)
{
	return (char *)cs->base + cs->size - 64;
}

static int
child_entry(void *arg)
{
	child(arg);
	return 127;
}
#endif

/* Start s's child: its pid, or -1 with errno set. */
static pid_t
spawn_child(const struct spawn *s)
{
	pid_t pid;
#if SPAWN_SHARES_MEMORY
	struct clone_stack cs;
	int e;

	if (stack_get(&cs) == 0) {
		/* clone() takes void *; child() does not write through it. */
		pid = clone(child_entry, stack_top(&cs), CLONE_VM |
		    CLONE_VFORK | SIGCHLD, (void *)(uintptr_t)s);
		e = errno;
		stack_put(&cs);
		errno = e;
		return pid;
	}
#endif
	pid = fork();
	if (pid == 0)
		child(s);
	return pid;
}

int
fg_proc_run(struct fg_proc_result *out, const struct fg_proc_opts *opts,
    struct fg_err *err)
{
	struct spawn s;
	struct tail t;
	struct child_report report;
	sigset_t all, old;
	char **envp = NULL, *path = NULL;
	size_t max, nargv = 0;
	int pout[2] = { -1, -1 }, prep[2] = { -1, -1 }, in = -1, rc = 0;
	int64_t start;
	ssize_t n;
	pid_t pid;
	long maxfd;

	result_init(out);
	memset(&t, 0, sizeof(t));
	if (opts->argv == NULL || opts->argv[0] == NULL ||
	    opts->argv[0][0] == '\0')
		return fg_err_set(err, FG_EINVALID, "no program to run");
	while (opts->argv[nargv] != NULL)
		nargv++;
	if (nargv > FG_PROC_ARGS_MAX)
		return fg_err_set(err, FG_ELIMIT, "more than %d arguments",
		    FG_PROC_ARGS_MAX);
	max = opts->output_max > 0 ? opts->output_max : FG_PROC_OUTPUT_MAX;
	if (max > FG_PROC_OUTPUT_LIMIT)
		return fg_err_set(err, FG_ELIMIT, "output limit %zu is over "
		    "%d bytes", max, FG_PROC_OUTPUT_LIMIT);
	rc = tail_init(&t, max, opts->secrets);
	if (rc != 0) {
		fg_err_set(err, rc, "cannot hold output of '%s'",
		    opts->argv[0]);
		goto out;
	}
	rc = build_env(&envp, opts->env, err);
	if (rc != 0)
		goto out;
	rc = resolve(&path, opts->argv[0], envp, err);
	if (rc != 0)
		goto out;
	if (pipe2(pout, O_CLOEXEC) != 0 || pipe2(prep, O_CLOEXEC) != 0) {
		rc = fg_err_set(err, FG_EIO, "pipe: %s", strerror(errno));
		goto out;
	}
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pout[0] = above_stdio(pout[0]);
	pout[1] = above_stdio(pout[1]);
	prep[0] = above_stdio(prep[0]);
	prep[1] = above_stdio(prep[1]);
	in = above_stdio(in);
	if (in < 0 || pout[0] < 0 || pout[1] < 0 || prep[0] < 0 ||
	    prep[1] < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot open descriptors for "
		    "'%s': %s", opts->argv[0], strerror(errno));
		goto out;
	}
	maxfd = sysconf(_SC_OPEN_MAX);
	s.path = path;
	/* execve() takes char *const[]; it does not write through it. */
	s.argv = (char *const *)(uintptr_t)opts->argv;
	s.envp = envp;
	s.dir = opts->dir;
	s.in = in;
	s.out = pout[1];
	s.report = prep[1];
	s.maxfd = maxfd > 0 && maxfd < 65536 ? (int)maxfd : 65536;
	s.parent = getpid();

	/*
	 * Block every signal across fork so the child cannot run one of our
	 * handlers before it has reset them; the child unblocks them once
	 * they are back at their defaults.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	start = now_ms();
	pid = spawn_child(&s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot start '%s': fork: %s",
		    opts->argv[0], strerror(errno));
		goto out;
	}
	/* Both of us set the group, so no signal can miss it. */
	setpgid(pid, pid);
	close(pout[1]);
	close(prep[1]);
	pout[1] = prep[1] = -1;

	/* The report pipe closes on exec; data on it means exec failed. */
	do {
		n = read(prep[0], &report, sizeof(report));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(report)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		rc = exec_error(&report, opts, path, err);
		goto out;
	}
	fcntl(pout[0], F_SETFL, fcntl(pout[0], F_GETFL) | O_NONBLOCK);
	rc = supervise(out, &t, pid, &pout[0], opts->timeout_ms, start, err);
	if (rc != 0)
		goto out;
	if (tail_finish(out, &t, max, opts->secrets) != 0)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	if (t.buf != NULL) {
		/* The raw output may hold secrets: do not leave it behind. */
		explicit_bzero(t.buf, t.cap);
		free(t.buf);
	}
	if (pout[0] >= 0)
		close(pout[0]);
	if (pout[1] >= 0)
		close(pout[1]);
	if (prep[0] >= 0)
		close(prep[0]);
	if (prep[1] >= 0)
		close(prep[1]);
	if (in >= 0)
		close(in);
	strv_free(envp);
	free(path);
	return rc;
}

static int
dir_is_empty(const char *dir, struct fg_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return fg_err_set(err, errno == ENOENT ? FG_ENOTFOUND : FG_EIO,
		    "cannot open directory '%s': %s", dir, strerror(errno));
	for (;;) {
		e = readdir(d);
		if (e == NULL)
			break;
		if (strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0) {
			rc = fg_err_set(err, FG_EINVALID, "cannot check out "
			    "into '%s': the directory is not empty", dir);
			break;
		}
	}
	closedir(d);
	return rc;
}

/* Deepest tree a checkout descends into. */
#define CHECKOUT_DEPTH_MAX 256

/*
 * A tree entry's name is safe to create in a checkout: not empty, ".",
 * "..", nor ".git" in any case, and free of '/'.  Git's own fsck refuses
 * such trees; a repository may still hold one.
 */
static bool
entry_name_ok(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strcasecmp(name, ".git") != 0 &&
	    strchr(name, '/') == NULL;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * A checkout in two passes.  The first walks the trees in order, checks
 * every name, makes the directories and the links and lists the files;
 * the second writes the files, from CHECKOUT_THREADS threads at once when
 * there are enough of them.  Measured on a 1,000-file tree in tmpfs, the
 * time is the kernel's (creating the files: openat ~55%, write ~30%),
 * reading and inflating the blobs is ~15%; on a quiet machine two writers
 * on two cores take checkout and removal of 1,000 files from ~21 ms to
 * ~15 ms: creates in one directory serialize on its lock, the writes and
 * closes do not.  libgit2 wants each object, the repository included,
 * used by one thread at a time, so the blobs are looked up and freed
 * under git_mu and only the file system work runs in parallel (the
 * repository may be a hook's, with quarantined objects: a second handle
 * opened by path would not see them).  libgit2's errors are per thread,
 * so each writer reports its own.
 */
#ifndef CHECKOUT_THREADS
#define CHECKOUT_THREADS	2
#endif
#define CHECKOUT_PARALLEL_MIN	64	/* fewer files: one thread */

struct co_file {
	int dfd;			/* the directory, open */
	const char *name;		/* in a tree held by co */
	git_oid id;
	bool exec;
};

struct fg_proc_co {
	git_repository *repo;
	char hex[GIT_OID_HEXSZ + 1];
	char *dir;
	bool mutexes;			/* mu and git_mu were made */
	struct co_file *files;
	size_t nfiles, cap;
	git_tree **trees;		/* kept for the names */
	int *dirs;			/* descriptors to close */
	size_t ntrees, ndirs, tcap, dcap;
	/* The second pass. */
	pthread_mutex_t mu;		/* next, failed_at, rc, err */
	pthread_mutex_t git_mu;		/* repo and its objects */
	size_t next;			/* the next file to write */
	size_t failed_at;		/* lowest failed file, or SIZE_MAX */
	int rc;
	struct fg_err err;
	const atomic_bool *stop;	/* set: write no more files; may be
					   NULL */
};

static int
co_grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *grown;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap > 0 ? *cap * 2 : 64;
	grown = realloc(*v, ncap * size);
	if (grown == NULL)
		return FG_ENOMEM;
	*v = grown;
	*cap = ncap;
	return 0;
}

/* The first pass over tree, whose directory is open as dfd. */
static int
co_walk(struct fg_proc_co *co, int dfd, const git_tree *tree, unsigned depth,
    struct fg_err *err)
{
	size_t i, n = git_tree_entrycount(tree);
	int rc = 0;

	if (depth > CHECKOUT_DEPTH_MAX)
		return fg_err_set(err, FG_ELIMIT, "cannot check out '%s': trees "
		    "nest deeper than %d", co->hex, CHECKOUT_DEPTH_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		git_tree *sub = NULL;
		git_blob *blob = NULL;
		struct co_file *f;
		char *target;
		int fd;

		if (!entry_name_ok(name))
			return fg_err_set(err, FG_EINVALID, "cannot check out "
			    "'%s': its tree holds the unsafe name '%s'",
			    co->hex, name);
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if (co_grow((void **)&co->trees, &co->tcap, co->ntrees,
			    sizeof(*co->trees)) < 0 ||
			    co_grow((void **)&co->dirs, &co->dcap, co->ndirs,
			    sizeof(*co->dirs)) < 0)
				return fg_err_set(err, FG_ENOMEM,
				    "out of memory");
			if (git_tree_lookup(&sub, co->repo,
			    git_tree_entry_id(e)) != 0)
				return fg_err_git(err, FG_EIO, "cannot read "
				    "tree '%s' of '%s'", name, co->hex);
			co->trees[co->ntrees++] = sub;
			if (mkdirat(dfd, name, 0777) != 0)
				fd = -1;
			else
				fd = openat(dfd, name, O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return fg_err_set(err, FG_EIO, "cannot create "
				    "directory '%s': %s", name,
				    strerror(errno));
			co->dirs[co->ndirs++] = fd;
			rc = co_walk(co, fd, sub, depth + 1, err);
			break;
		case GIT_FILEMODE_COMMIT:
			if (mkdirat(dfd, name, 0777) != 0)
				rc = fg_err_set(err, FG_EIO, "cannot create "
				    "directory '%s': %s", name,
				    strerror(errno));
			break;
		case GIT_FILEMODE_LINK:
			if (git_blob_lookup(&blob, co->repo,
			    git_tree_entry_id(e)) != 0)
				return fg_err_git(err, FG_EIO, "cannot read "
				    "'%s' of '%s'", name, co->hex);
			target = strndup(git_blob_rawcontent(blob),
			    (size_t)git_blob_rawsize(blob));
			if (target == NULL)
				rc = fg_err_set(err, FG_ENOMEM,
				    "out of memory");
			else if (strlen(target) !=
			    (size_t)git_blob_rawsize(blob) ||
			    symlinkat(target, dfd, name) != 0)
				rc = fg_err_set(err, FG_EIO, "cannot "
				    "create link '%s'", name);
			free(target);
			git_blob_free(blob);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			if (co_grow((void **)&co->files, &co->cap, co->nfiles,
			    sizeof(*co->files)) < 0)
				return fg_err_set(err, FG_ENOMEM,
				    "out of memory");
			f = &co->files[co->nfiles++];
			f->dfd = dfd;
			f->name = name;
			git_oid_cpy(&f->id, git_tree_entry_id(e));
			f->exec = mode == GIT_FILEMODE_BLOB_EXECUTABLE;
			break;
		default:
			rc = fg_err_set(err, FG_EINVALID, "cannot check out "
			    "'%s': '%s' has the unknown mode %o", co->hex,
			    name, (unsigned)mode);
		}
	}
	return rc;
}

/* Write one file: fresh (O_EXCL), following nothing (O_NOFOLLOW). */
static int
co_write(struct fg_proc_co *co, const struct co_file *f, struct fg_err *err)
{
	git_blob *blob = NULL;
	int fd, rc = 0;

	/* libgit2 objects, one thread at a time: the repository is shared. */
	pthread_mutex_lock(&co->git_mu);
	if (git_blob_lookup(&blob, co->repo, &f->id) != 0)
		rc = fg_err_git(err, FG_EIO, "cannot read '%s' of '%s'",
		    f->name, co->hex);
	pthread_mutex_unlock(&co->git_mu);
	if (rc < 0)
		return rc;
	fd = openat(f->dfd, f->name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, f->exec ? 0777 : 0666);
	if (fd < 0 || write_all(fd, git_blob_rawcontent(blob),
	    (size_t)git_blob_rawsize(blob)) != 0)
		rc = fg_err_set(err, FG_EIO, "cannot write '%s': %s", f->name,
		    strerror(errno));
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = fg_err_set(err, FG_EIO, "cannot write '%s': %s", f->name,
		    strerror(errno));
	pthread_mutex_lock(&co->git_mu);
	git_blob_free(blob);
	pthread_mutex_unlock(&co->git_mu);
	return rc;
}

/* A writer: takes the next file until none is left or one failed. */
static void *
co_writer(void *arg)
{
	struct fg_proc_co *co = arg;
	struct fg_err err = FG_ERR_INIT;
	size_t i;
	int rc;

	for (;;) {
		pthread_mutex_lock(&co->mu);
		i = co->next++;
		if (co->failed_at == SIZE_MAX && i < co->nfiles &&
		    co->stop != NULL && atomic_load(co->stop)) {
			co->failed_at = i;
			co->rc = fg_err_set(&co->err, FG_EIO, "the checkout of "
			    "'%s' was stopped", co->hex);
		}
		if (co->failed_at != SIZE_MAX || i >= co->nfiles) {
			pthread_mutex_unlock(&co->mu);
			break;
		}
		pthread_mutex_unlock(&co->mu);
		rc = co_write(co, &co->files[i], &err);
		if (rc < 0) {
			pthread_mutex_lock(&co->mu);
			if (i < co->failed_at) {
				co->failed_at = i;
				co->rc = rc;
				co->err = err;
			}
			pthread_mutex_unlock(&co->mu);
			break;
		}
	}
	return NULL;
}

/*
 * Say where a checkout failed, unless the message does: "cannot check
 * out <commit> into <dir>: ...".
 */
static void
co_error_context(const struct fg_proc_co *co, int rc, struct fg_err *err)
{
	char msg[FG_ERR_MSG_MAX];

	if (err == NULL || strstr(err->msg, co->dir) != NULL)
		return;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	fg_err_set(err, rc, "cannot check out '%s' into '%s': %s", co->hex,
	    co->dir, msg);
}

static void
co_release(struct fg_proc_co *co)
{
	size_t i;

	for (i = 0; i < co->ndirs; i++)
		close(co->dirs[i]);
	for (i = 0; i < co->ntrees; i++)
		git_tree_free(co->trees[i]);
	free(co->dirs);
	free(co->trees);
	free(co->files);
	free(co->dir);
}

void
fg_proc_co_free(struct fg_proc_co *co)
{
	if (co == NULL)
		return;
	co_release(co);
	if (co->mutexes) {
		pthread_mutex_destroy(&co->git_mu);
		pthread_mutex_destroy(&co->mu);
	}
	free(co);
}

int
fg_proc_co_new(struct fg_proc_co **out, const char *dir, git_repository *repo,
    const git_oid *commit, const atomic_bool *stop, struct fg_err *err)
{
	git_commit *c = NULL;
	git_tree *tree = NULL;
	struct fg_proc_co *co = NULL;
	int dfd = -1, rc;

	*out = NULL;
	co = calloc(1, sizeof(*co));
	if (co == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	git_oid_tostr(co->hex, sizeof(co->hex), commit);
	co->repo = repo;
	co->stop = stop;
	co->failed_at = SIZE_MAX;
	co->dir = strdup(dir);
	if (co->dir == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (pthread_mutex_init(&co->mu, NULL) != 0) {
		rc = fg_err_set(err, FG_EIO, "cannot make a mutex");
		goto out;
	}
	if (pthread_mutex_init(&co->git_mu, NULL) != 0) {
		pthread_mutex_destroy(&co->mu);
		rc = fg_err_set(err, FG_EIO, "cannot make a mutex");
		goto out;
	}
	co->mutexes = true;
	rc = dir_is_empty(dir, err);
	if (rc != 0)
		goto out;
	if (git_commit_lookup(&c, repo, commit) != 0) {
		rc = fg_err_git(err, FG_ENOTFOUND, "cannot find commit '%s'",
		    co->hex);
		goto out;
	}
	if (git_commit_tree(&tree, c) != 0) {
		rc = fg_err_git(err, FG_EIO, "cannot read the tree of '%s'",
		    co->hex);
		goto out;
	}
	/*
	 * The blobs are written as they are stored: no index, no
	 * .gitattributes filters, nothing of the repository consulted or
	 * changed but its objects.  libgit2's checkout does far more (it
	 * stats, filters and compares against a baseline) and cost a
	 * promotion of a 1,000-file tree three times as much.
	 */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || co_grow((void **)&co->dirs, &co->dcap, co->ndirs,
	    sizeof(*co->dirs)) < 0) {
		rc = fg_err_set(err, dfd < 0 ? FG_EIO : FG_ENOMEM, "cannot "
		    "open directory '%s': %s", dir, dfd < 0 ? strerror(errno) :
		    "out of memory");
		goto out;
	}
	/* The files at the top are written through it: co closes it. */
	co->dirs[co->ndirs++] = dfd;
	dfd = -1;
	rc = co_walk(co, co->dirs[0], tree, 0, err);
	if (rc < 0)
		co_error_context(co, rc, err);
out:
	if (dfd >= 0)
		close(dfd);
	git_tree_free(tree);
	git_commit_free(c);
	if (rc < 0)
		fg_proc_co_free(co);
	else
		*out = co;
	return rc;
}

void
fg_proc_co_write(struct fg_proc_co *co)
{
	co_writer(co);
}

int
fg_proc_co_finish(struct fg_proc_co *co, struct fg_err *err)
{
	if (co->rc < 0 && err != NULL) {
		*err = co->err;
		co_error_context(co, co->rc, err);
	}
	return co->rc;
}

/*
 * The files, by CHECKOUT_THREADS writers: this thread and the ones it
 * starts when there are enough files.
 */
int
fg_proc_checkout(const char *dir, git_repository *repo,
    const git_oid *commit, struct fg_err *err)
{
	pthread_t th[CHECKOUT_THREADS - 1];
	struct fg_proc_co *co = NULL;
	size_t i, started = 0;
	int rc;

	rc = fg_proc_co_new(&co, dir, repo, commit, NULL, err);
	if (rc < 0)
		return rc;
	if (co->nfiles >= CHECKOUT_PARALLEL_MIN)
		for (i = 0; i < FG_ARRAY_SIZE(th); i++)
			if (pthread_create(&th[started], NULL, co_writer,
			    co) == 0)
				started++;
	co_writer(co);
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	rc = fg_proc_co_finish(co, err);
	fg_proc_co_free(co);
	return rc;
}

int
fg_proc_mkdtemp(char **out, const char *tag, struct fg_err *err)
{
	const char *base = getenv("TMPDIR");
	struct fg_buf b = FG_BUF_INIT;
	size_t i, start;
	int rc = 0;

	*out = NULL;
	if (base == NULL || base[0] != '/')
		base = "/tmp";
	rc = fg_buf_printf(&b, "%s/flowgate-", base);
	start = b.len;
	if (rc == 0)
		rc = fg_buf_puts(&b, tag != NULL && *tag != '\0' ? tag : "tmp");
	/* The tag lands in a path: keep it to a safe alphabet. */
	for (i = start; rc == 0 && i < b.len; i++) {
		unsigned char ch = (unsigned char)b.ptr[i];

		if (!(ch < 128 && (ch == '-' || (ch >= '0' && ch <= '9') ||
		    ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))))
			b.ptr[i] = '-';
	}
	if (rc == 0)
		rc = fg_buf_puts(&b, "-XXXXXX");
	if (rc != 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (mkdtemp(b.ptr) == NULL) {
		rc = fg_err_set(err, FG_EIO, "cannot make a directory in "
		    "'%s': %s", base, strerror(errno));
		goto out;
	}
	*out = fg_buf_detach(&b, NULL);
	if (*out == NULL)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	fg_buf_release(&b);
	return rc;
}

/*
 * Empty the open directory dfd (which it closes), entering no other file
 * system (dev) and following no link.  A directory that refuses an unlink
 * is made writable once and tried again.
 */
static int
empty_dir(int dfd, dev_t dev, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	struct stat st;
	bool chmodded = false;
	int r = 0, fd, flags;

	if (d == NULL) {
		r = errno;
		close(dfd);
		return r;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0 && r == 0)
				r = errno;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		flags = 0;
		if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) {
			if (fstatat(dfd, e->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno != ENOENT && r == 0)
					r = errno;
				continue;
			}
			if (S_ISDIR(st.st_mode)) {
				flags = AT_REMOVEDIR;
				if (st.st_dev != dev || depth >= 4096) {
					r = r == 0 ? EXDEV : r;
					continue;
				}
				if ((st.st_mode & S_IRWXU) != S_IRWXU)
					fchmodat(dfd, e->d_name, (st.st_mode &
					    07777) | S_IRWXU, 0);
				fd = openat(dfd, e->d_name, O_RDONLY |
				    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (fd < 0 || empty_dir(fd, dev, depth + 1)) {
					if (r == 0)
						r = fd < 0 ? errno : EIO;
					continue;
				}
			}
		}
		if (unlinkat(dfd, e->d_name, flags) == 0 || errno == ENOENT)
			continue;
		if ((errno == EACCES || errno == EPERM) && !chmodded &&
		    fstat(dfd, &st) == 0) {
			chmodded = true;
			fchmod(dfd, (st.st_mode & 07777) | S_IRWXU);
			if (unlinkat(dfd, e->d_name, flags) == 0)
				continue;
		}
		if (r == 0)
			r = errno;
	}
	closedir(d);
	return r;
}

int
fg_proc_rmtree(const char *path, struct fg_err *err)
{
	struct stat st;
	int r = 0, fd;

	if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
		return fg_err_set(err, FG_EINVALID, "refusing to remove '%s'",
		    path != NULL ? path : "");
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		return fg_err_set(err, FG_EIO, "cannot remove '%s': %s", path,
		    strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		if ((st.st_mode & S_IRWXU) != S_IRWXU)
			chmod(path, (st.st_mode & 07777) | S_IRWXU);
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		r = fd < 0 ? errno : empty_dir(fd, st.st_dev, 0);
		if (r == 0 && rmdir(path) != 0 && errno != ENOENT)
			r = errno;
	} else if (unlink(path) != 0 && errno != ENOENT)
		r = errno;
	if (r != 0)
		return fg_err_set(err, FG_EIO, "cannot remove '%s': %s", path,
		    strerror(r));
	return 0;
}

static int
rmtree_forked(const char *path, struct fg_err *err)
{
	pid_t pid, r;
	int status;

	if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
		return fg_err_set(err, FG_EINVALID, "refusing to remove '%s'",
		    path != NULL ? path : "");
	pid = fork();
	if (pid < 0)
		return fg_proc_rmtree(path, err);
	if (pid == 0) {
		/*
		 * The child leaves at once; its child, orphaned to init,
		 * removes the tree holding nothing of ours: no descriptor
		 * (a daemon's sockets must close when it closes them), no
		 * signal handler.
		 */
		if (fork() != 0)
			_exit(0);
		close_range(3, ~0U, 0);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		_exit(fg_proc_rmtree(path, NULL) == 0 ? 0 : 1);
	}
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fg_proc_rmtree(path, err);
	return 0;
}

#if SPAWN_SHARES_MEMORY
/*
 * The detached removal without copying our memory and with one wait: a
 * clone sharing it execs /bin/sh in a session of its own, and we wait
 * only until it has exec'd.  The shell starts the removal in the
 * background and exits: rm, and if a directory refused, making the tree
 * writable and rm again (what fg_proc_rmtree() does by itself).  The
 * removal, orphaned, belongs to init.  The shell is our child until
 * reaped: the next call reaps the ones that ended (a CLI exits first and
 * init reaps them), so at most DETACH_PENDING are ever waiting.  Nothing
 * of ours goes with them: descriptors above 2 are closed, 0-2 are
 * /dev/null, the signals are at their defaults, the environment only
 * PATH=/usr/bin:/bin, and the session is not ours (a ^C meant for the CLI
 * does not stop the removal).
 */
#define RM_SCRIPT							\
	"(rm -rf --one-file-system -- \"$1\" 2>/dev/null || { "		\
	"[ -L \"$1\" ] || chmod -R u+rwx -- \"$1\" 2>/dev/null; "	\
	"rm -rf --one-file-system -- \"$1\"; }) &"

#define DETACH_PENDING	64

static pthread_mutex_t detach_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t detach_pids[DETACH_PENDING];

struct detach {
	const char *argv[6];
	char *envp[2];
	int devnull;
};

static int
detach_exec(void *arg)
{
	struct detach *d = arg;

	setsid();
	if (dup2(d->devnull, 0) < 0 || dup2(d->devnull, 1) < 0 ||
	    dup2(d->devnull, 2) < 0)
		_exit(127);
	if (close_range(3, ~0U, 0) != 0)
		_exit(127);
	signals_default();
	/* execve() takes char *const[]; it does not write through it. */
	execve("/bin/sh", (char *const *)(uintptr_t)d->argv, d->envp);
	_exit(127);
}

/*
 * Reap the shells that ended; record pid (0: none) in a free slot.  false
 * when pid could not be recorded (every slot holds a live shell): the
 * caller then waits for it.
 */
static bool
detach_reap(pid_t pid)
{
	bool kept = pid == 0;
	size_t i;
	pid_t r;

	pthread_mutex_lock(&detach_mu);
	for (i = 0; i < DETACH_PENDING; i++) {
		if (detach_pids[i] > 0) {
			r = waitpid(detach_pids[i], NULL, WNOHANG);
			/* Ended, or reaped by someone else (ECHILD). */
			if (r == detach_pids[i] || (r < 0 && errno == ECHILD))
				detach_pids[i] = 0;
		}
		if (detach_pids[i] == 0 && !kept) {
			detach_pids[i] = pid;
			kept = true;
		}
	}
	pthread_mutex_unlock(&detach_mu);
	return kept;
}
#endif

int
fg_proc_rmtree_detached(const char *path, struct fg_err *err)
{
#if SPAWN_SHARES_MEMORY
	struct clone_stack cs;
	struct detach d;
	sigset_t all, old;
	pid_t pid;
	int e;
#endif

	if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
		return fg_err_set(err, FG_EINVALID, "refusing to remove '%s'",
		    path != NULL ? path : "");
#if SPAWN_SHARES_MEMORY
	(void)detach_reap(0);
	if (access("/bin/sh", X_OK) != 0)
		return rmtree_forked(path, err);
	memset(&d, 0, sizeof(d));
	d.argv[0] = "sh";
	d.argv[1] = "-c";
	d.argv[2] = RM_SCRIPT;
	d.argv[3] = "flowgate-rm";
	d.argv[4] = path;
	d.argv[5] = NULL;
	d.envp[0] = (char *)(uintptr_t)"PATH=/usr/bin:/bin";
	d.envp[1] = NULL;
	d.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (d.devnull < 0)
		return rmtree_forked(path, err);
	if (stack_get(&cs) < 0) {
		close(d.devnull);
		return rmtree_forked(path, err);
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(detach_exec, stack_top(&cs), CLONE_VM | CLONE_VFORK |
	    SIGCHLD, &d);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	stack_put(&cs);
	close(d.devnull);
	if (pid < 0) {
		errno = e;
		return rmtree_forked(path, err);
	}
	if (!detach_reap(pid))
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	return 0;
#else
	return rmtree_forked(path, err);
#endif
}
