/*
 * wake.c - hear post-receive: a push queues its events in the inbox
 * itself, without the daemon, then writes one byte to the repository's
 * wake-up FIFO ($GIT_DIR/flowgate.wake, lib/hook.h) so that a running
 * daemon processes them now rather than at its next delivery or start.
 *
 * At start the daemon makes the FIFO in every repository it knows of
 * (whd_repos_each) and keeps it open for reading and writing, so it never
 * sees end-of-file and post-receive always finds a reader; each readable
 * event drains the bytes and tells the workers to look.  A repository
 * created after the start is heard of at its first delivery or at the
 * next start.  Without the FIFO nothing is lost: the backlog waits in the
 * inbox.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "hook.h"
#include "log.h"
#include "util.h"
#include "whd.h"
#include "worker.h"
#include "banned.h"

struct whd_wake {
	struct whd_wake *next;
	struct whd *d;
	struct event *ev;
	int fd;
	char *repo;
	char *path;
};

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct whd_wake *w = arg;
	char buf[256];
	ssize_t n;
	bool any = false;

	(void)what;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			any = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (any)
		whd_workers_notify(w->d->workers, w->repo, w->path, 1);
}

/* Open (making it when missing) the FIFO of the repository at path. */
static int
open_fifo(const char *fifo)
{
	struct stat st;
	int fd;

	if (mkfifo(fifo, 0620) < 0 && errno != EEXIST)
		return -1;
	/* O_RDWR: a FIFO with a writer of our own never reads as closed. */
	fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static void
watch_one(const char *repo, const char *path, void *arg)
{
	struct whd *d = arg;
	struct whd_wake *w;
	char fifo[4096];

	if ((size_t)snprintf(fifo, sizeof(fifo), "%s/%s", path,
	    FG_HOOK_WAKE_FILE) >= sizeof(fifo))
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->d = d;
	w->fd = open_fifo(fifo);
	if (w->fd < 0) {
		fg_log_warnx("event=wake_fifo repo=%s reason=\"%s: %s\"", repo,
		    fifo, strerror(errno));
		free(w);
		return;
	}
	w->repo = fg_strdup(repo);
	w->path = fg_strdup(path);
	w->ev = event_new(d->base, w->fd, EV_READ | EV_PERSIST, on_wake, w);
	if (w->repo == NULL || w->path == NULL || w->ev == NULL ||
	    event_add(w->ev, NULL) < 0) {
		if (w->ev != NULL)
			event_free(w->ev);
		close(w->fd);
		free(w->repo);
		free(w->path);
		free(w);
		return;
	}
	w->next = d->wake;
	d->wake = w;
}

void
whd_wake_start(struct whd *d)
{
	whd_repos_each(d->settings, watch_one, d);
}

void
whd_wake_free(struct whd *d)
{
	struct whd_wake *w, *next;

	for (w = d->wake; w != NULL; w = next) {
		next = w->next;
		event_free(w->ev);
		close(w->fd);
		free(w->repo);
		free(w->path);
		free(w);
	}
	d->wake = NULL;
}
