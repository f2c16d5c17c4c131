/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vigilctl: talk to a running vigild over its control socket.
 *   status [--json]       agent, plugins, actions, rules, recent events
 *   events [N]            the last N events as JSON lines
 *   test-alert [SUMMARY]  emit an agent_test event through the policy
 *   check-config [FILE]   validate FILE with the running agent's plugins
 *                         (or, when no agent runs, with vigild --check-config)
 *   reload                re-read the configuration
 *   replay FILE           classify a saved log (runs vigild --replay)
 */
#include "util.h"

#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>

static void usage(FILE *f)
{
	fputs("Usage: vigilctl [-s SOCKET] COMMAND [ARGS]\n"
	      "Commands: status [--json] | events [N] | test-alert [SUMMARY] | check-config [FILE] |\n"
	      "          reload | replay FILE\n",
	      f);
}

static int request(const char *sock, json_object *req, json_object **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int r = vigil_write_all(fd, text, strlen(text));
	if (r >= 0)
		r = vigil_write_all(fd, "\n", 1);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = NULL;
	r = vigil_read_fd(fd, 64 * 1024 * 1024, false, &buf, NULL);
	if (r < 0)
		return r;
	*ret = json_tokener_parse(buf);
	return *ret ? 0 : -EBADMSG;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : "-";
}

static void print_status(json_object *st)
{
	json_object *a, *h;
	printf("vigild %s, pid %s, up %ss, config %s\n", jstr(st, "version"), jstr(st, "pid"), jstr(st, "uptime_s"),
	       jstr(st, "config"));
	if (json_object_object_get_ex(st, "host", &h))
		printf("host %s, kernel %s, boot %s\n", jstr(h, "hostname"), jstr(h, "kernel"), jstr(h, "boot_id"));
	if (json_object_object_get_ex(st, "plugins", &a)) {
		printf("\nPLUGINS\n");
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *p = json_object_array_get_idx(a, i), *s;
			printf("  %-10s %-15s %-9s events=%s", jstr(p, "name"), jstr(p, "kind"), jstr(p, "state"),
			       jstr(p, "events"));
			if (json_object_object_get_ex(p, "status", &s) && json_object_object_length(s))
				printf("\n             %s", json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
			printf("\n");
		}
	}
	if (json_object_object_get_ex(st, "actions", &a) && json_object_array_length(a)) {
		printf("\nACTIONS\n");
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *p = json_object_array_get_idx(a, i), *s;
			printf("  %-16s type=%-8s active=%s runs=%s failures=%s", jstr(p, "name"), jstr(p, "type"),
			       jstr(p, "active"), jstr(p, "runs"), jstr(p, "failures"));
			if (json_object_object_get_ex(p, "status", &s) && json_object_object_length(s))
				printf("\n             %s", json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
			printf("\n");
		}
	}
	if (json_object_object_get_ex(st, "rules", &a)) {
		printf("\nRULES\n");
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *p = json_object_array_get_idx(a, i);
			printf("  %-20s enabled=%s matched=%s fired=%s suppressed=%s last_fired_ago_s=%s\n",
			       jstr(p, "name"), jstr(p, "enabled"), jstr(p, "matched"), jstr(p, "fired"),
			       jstr(p, "suppressed"), jstr(p, "last_fired_ago_s"));
		}
	}
	if (json_object_object_get_ex(st, "recent", &a) && json_object_array_length(a)) {
		printf("\nRECENT EVENTS\n");
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			json_object *e = json_object_array_get_idx(a, i);
			printf("  %s %-9s %-18s %s\n", jstr(e, "time"), jstr(e, "severity"), jstr(e, "kind"),
			       jstr(e, "summary"));
		}
	}
}

static int run_vigild(char **args)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = 0;
		char *slash = strrchr(path, '/');
		if (slash && (size_t)(slash - path) + 8 < sizeof(path)) {
			strcpy(slash + 1, "vigild");
			execv(path, args);
		}
	}
	execvp("vigild", args);
	fprintf(stderr, "vigilctl: cannot run vigild: %m\n");
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'}, {},
	};
	const char *sock = VIGIL_RUN_DIR "/control";
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind++];
	for (int i = optind; i < argc; i++)
		if (streq(argv[i], "--json"))
			json = true;
	json_object *req = json_object_new_object(), *reply = NULL;

	if (streq(cmd, "replay")) {
		if (optind >= argc) {
			usage(stderr);
			return 2;
		}
		char *args[] = {"vigild", "--replay", argv[optind], NULL};
		return run_vigild(args);
	}
	if (streq(cmd, "status") || streq(cmd, "reload"))
		json_object_object_add(req, "command", json_object_new_string(cmd));
	else if (streq(cmd, "events")) {
		json_object_object_add(req, "command", json_object_new_string("events"));
		if (optind < argc)
			json_object_object_add(req, "max", json_object_new_int(atoi(argv[optind])));
	} else if (streq(cmd, "test-alert")) {
		json_object_object_add(req, "command", json_object_new_string("test-alert"));
		if (optind < argc)
			json_object_object_add(req, "summary", json_object_new_string(argv[optind]));
	} else if (streq(cmd, "check-config")) {
		char abs[PATH_MAX];
		const char *file = optind < argc ? argv[optind] : VIGIL_CONF_FILE;
		if (!realpath(file, abs)) {
			fprintf(stderr, "vigilctl: %s: %m\n", file);
			return 1;
		}
		json_object_object_add(req, "command", json_object_new_string("check-config"));
		json_object_object_add(req, "file", json_object_new_string(abs));
		r = request(sock, req, &reply);
		if (r == -ENOENT || r == -ECONNREFUSED) {
			/* No agent running: validate with vigild itself. */
			char *args[] = {"vigild", "--check-config", "-c", abs, NULL};
			return run_vigild(args);
		}
		goto answer;
	} else {
		fprintf(stderr, "vigilctl: unknown command '%s'\n", cmd);
		usage(stderr);
		return 2;
	}
	r = request(sock, req, &reply);
answer:
	json_object_put(req);
	if (r < 0) {
		fprintf(stderr, "vigilctl: %s: %s (is vigild running?)\n", sock, strerror(-r));
		return 1;
	}
	json_object *ok;
	bool success = json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
	if (json || streq(cmd, "reload") || streq(cmd, "test-alert"))
		printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (streq(cmd, "status"))
		print_status(reply);
	else if (streq(cmd, "events")) {
		json_object *a;
		if (json_object_object_get_ex(reply, "events", &a))
			for (size_t i = 0; i < json_object_array_length(a); i++)
				printf("%s\n", json_object_to_json_string_ext(json_object_array_get_idx(a, i),
									      JSON_C_TO_STRING_PLAIN));
	} else if (streq(cmd, "check-config")) {
		json_object *e;
		if (json_object_object_get_ex(reply, "errors", &e) && e)
			fprintf(stderr, "%s\n", json_object_get_string(e));
		printf("%s\n", success ? "configuration OK" : "configuration is invalid");
	}
	if (!success) {
		json_object *e;
		if (!streq(cmd, "check-config") && json_object_object_get_ex(reply, "error", &e))
			fprintf(stderr, "vigilctl: %s\n", json_object_get_string(e));
	}
	json_object_put(reply);
	return success ? 0 : 1;
}
