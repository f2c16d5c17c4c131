/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Control socket. Requests: {"command":"status"}, {"command":"events",
 * "max":N}, {"command":"test-alert","kind":K,"summary":S},
 * {"command":"check-config","file":F}, {"command":"reload"}. Each
 * connection is a small state machine on the loop: read a bounded line,
 * answer, write without blocking, close. Only root (the socket is 0600 in a
 * 0755 root directory) can connect; peers are also checked by SO_PEERCRED.
 */
#include "control.h"
#include "core.h"
#include "log.h"
#include "util.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

struct conn {
	struct conn *prev, *next;
	struct vigil_control *ctl;
	int fd;
	sd_event_source *io, *timeout;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off;
};

struct vigil_control {
	struct vigil_core *core;
	int fd;
	char *path;
	sd_event_source *io;
	struct conn *conns;
	unsigned n_conns;
};

#define CONTROL_MAX_CONNS 16

static void conn_free(struct conn *cn)
{
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		cn->ctl->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	cn->ctl->n_conns--;
	sd_event_source_disable_unref(cn->io);
	sd_event_source_disable_unref(cn->timeout);
	close(cn->fd);
	free(cn->in);
	free(cn->out);
	free(cn);
}

static json_object *error_reply(const char *msg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static json_object *handle(struct vigil_control *ctl, const char *line)
{
	json_tokener *tok = json_tokener_new();
	json_object *req = tok ? json_tokener_parse_ex(tok, line, (int)strlen(line)) : NULL;
	json_object *cmd = NULL, *reply = NULL, *v = NULL;
	json_tokener_free(tok);
	if (!req || !json_object_is_type(req, json_type_object) || !json_object_object_get_ex(req, "command", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		json_object_put(req);
		return error_reply("bad request: expected {\"command\": …}");
	}
	const char *c = json_object_get_string(cmd);
	if (streq(c, "status")) {
		reply = vigil_core_status(ctl->core);
		json_object_object_add(reply, "ok", json_object_new_boolean(true));
	} else if (streq(c, "events")) {
		size_t max = 100;
		if (json_object_object_get_ex(req, "max", &v) && json_object_get_int(v) > 0)
			max = (size_t)json_object_get_int(v);
		reply = json_object_new_object();
		json_object_object_add(reply, "ok", json_object_new_boolean(true));
		json_object_object_add(reply, "events", vigil_core_recent(ctl->core, max));
	} else if (streq(c, "test-alert")) {
		const char *kind = NULL, *summary = NULL;
		if (json_object_object_get_ex(req, "kind", &v))
			kind = json_object_get_string(v);
		if (json_object_object_get_ex(req, "summary", &v))
			summary = json_object_get_string(v);
		if (kind && !startswith(kind, "agent_")) {
			json_object_put(req);
			return error_reply("test events must have an agent_* kind");
		}
		int r = vigil_core_test_event(ctl->core, kind, summary);
		reply = r < 0 ? error_reply(strerror(-r)) : json_object_new_object();
		if (r >= 0)
			json_object_object_add(reply, "ok", json_object_new_boolean(true));
	} else if (streq(c, "check-config")) {
		char *errors = NULL;
		const char *file = NULL;
		if (json_object_object_get_ex(req, "file", &v))
			file = json_object_get_string(v);
		if (!file) {
			json_object_put(req);
			return error_reply("check-config needs \"file\"");
		}
		int r = vigil_core_check_file(ctl->core, file, &errors);
		reply = json_object_new_object();
		json_object_object_add(reply, "ok", json_object_new_boolean(r >= 0));
		json_object_object_add(reply, "errors", errors ? json_object_new_string(errors) : NULL);
		free(errors);
	} else if (streq(c, "reload")) {
		int r = vigil_core_reload(ctl->core);
		reply = json_object_new_object();
		json_object_object_add(reply, "ok", json_object_new_boolean(r >= 0));
	} else
		reply = error_reply("unknown command");
	json_object_put(req);
	return reply;
}

static int conn_write(struct conn *cn)
{
	while (cn->out_off < cn->out_len) {
		ssize_t n = send(cn->fd, cn->out + cn->out_off, cn->out_len - cn->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				return sd_event_source_set_io_events(cn->io, EPOLLOUT);
			if (errno == EINTR)
				continue;
			return -errno;
		}
		cn->out_off += (size_t)n;
	}
	return 1; /* done */
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn *cn = userdata;
	if (cn->out) {
		if (conn_write(cn) != 0)
			conn_free(cn);
		return 0;
	}
	ssize_t n = recv(fd, cn->in + cn->in_len, VIGIL_CONTROL_MAX_REQUEST - cn->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0 || (n == 0 && cn->in_len == 0)) {
		conn_free(cn);
		return 0;
	}
	cn->in_len += (size_t)n;
	cn->in[cn->in_len] = 0;
	char *nl = memchr(cn->in, '\n', cn->in_len);
	if (nl)
		*nl = 0;
	else if (n > 0 && cn->in_len < VIGIL_CONTROL_MAX_REQUEST)
		return 0; /* wait for the rest of the line */
	else if (cn->in_len >= VIGIL_CONTROL_MAX_REQUEST) {
		conn_free(cn); /* oversized request */
		return 0;
	}
	json_object *reply = handle(cn->ctl, cn->in);
	const char *text = reply ? json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN) : "{\"ok\":false}";
	if (asprintf(&cn->out, "%s\n", text) < 0)
		cn->out = NULL;
	json_object_put(reply);
	if (!cn->out) {
		conn_free(cn);
		return 0;
	}
	cn->out_len = strlen(cn->out);
	if (conn_write(cn) != 0)
		conn_free(cn);
	return 0;
}

static int on_conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	conn_free(userdata);
	return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct vigil_control *ctl = userdata;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uint64_t now;

	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0)
		return 0;
	if (ctl->n_conns >= CONTROL_MAX_CONNS ||
	    getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || (cred.uid != 0 && cred.uid != geteuid())) {
		close(cfd);
		return 0;
	}
	struct conn *cn = calloc(1, sizeof(*cn));
	if (!cn || !(cn->in = malloc(VIGIL_CONTROL_MAX_REQUEST + 1))) {
		free(cn);
		close(cfd);
		return 0;
	}
	cn->ctl = ctl;
	cn->fd = cfd;
	cn->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = cn;
	ctl->conns = cn;
	ctl->n_conns++;
	sd_event *loop = vigil_core_loop(ctl->core);
	sd_event_now(loop, CLOCK_MONOTONIC, &now);
	if (sd_event_add_io(loop, &cn->io, cfd, EPOLLIN, on_conn, cn) < 0 ||
	    sd_event_add_time(loop, &cn->timeout, CLOCK_MONOTONIC, now + 5 * USEC_PER_SEC, 0, on_conn_timeout, cn) < 0)
		conn_free(cn);
	return 0;
}

int vigil_control_new(struct vigil_core *core, const char *path, struct vigil_control **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	vigil_strlcpy(dir, path, sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return negative_errno();
	}
	struct vigil_control *ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->core = core;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->fd < 0 || !(ctl->path = strdup(path))) {
		r = ctl->fd < 0 ? negative_errno() : -ENOMEM;
		goto fail;
	}
	strcpy(sa.sun_path, path);
	(void)unlink(path);
	mode_t old = umask(0177);
	r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(ctl->fd, 8) < 0) {
		r = negative_errno();
		goto fail;
	}
	r = sd_event_add_io(vigil_core_loop(core), &ctl->io, ctl->fd, EPOLLIN, on_accept, ctl);
	if (r < 0)
		goto fail;
	*ret = ctl;
	return 0;
fail:
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
	return r;
}

struct vigil_control *vigil_control_free(struct vigil_control *ctl)
{
	if (!ctl)
		return NULL;
	while (ctl->conns)
		conn_free(ctl->conns);
	sd_event_source_disable_unref(ctl->io);
	close(ctl->fd);
	(void)unlink(ctl->path);
	free(ctl->path);
	free(ctl);
	return NULL;
}
