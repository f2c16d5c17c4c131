/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vigild: argument parsing and the lifecycle (load → start → run → stop).
 * Modes: the daemon (systemd Type=notify, or -f in the foreground),
 * --check-config, --replay FILE, --list-keys.
 */
#include "core.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#include <getopt.h>
#include <limits.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vigild [OPTIONS]\n"
		"Guest-side watchdog and self-healing agent.\n\n"
		"  -f, --foreground          stay in the foreground; events as JSON lines on stdout\n"
		"  -c, --config FILE         configuration file (default %s)\n"
		"      --conf-dir DIR        drop-in directory (default: conf.d next to the config)\n"
		"      --plugin-dir DIR      plugin directory\n"
		"      --state-dir DIR       state directory\n"
		"      --data-dir DIR        data directory (signatures)\n"
		"      --control-socket PATH control socket for vigilctl\n"
		"      --check-config        validate the configuration and exit\n"
		"      --replay FILE|-       classify a saved kernel log, print events, exit\n"
		"      --list-keys           print every configuration key (section, key, type, default, help; tab-separated)\n"
		"  -h, --help                this help\n"
		"      --version             print the version\n",
		VIGIL_CONF_FILE);
}

/* Running from the build tree? Then default to the build tree's plugins,
 * the source tree's config and data, so nothing needs installing. */
static bool running_uninstalled(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = 0;
	/* libtool may run the binary from .libs/ */
	size_t l = strlen(exe);
	if (l > 6 && streq(exe + l - 6, "/.libs"))
		exe[l - 6] = 0;
	return streq(exe, VIGIL_BUILD_DIR);
}

static void print_keys(const char *section, const struct vigil_config_key *k)
{
	static const char *const types[] = {"bool", "int", "duration", "size", "enum", "string", "list", "path"};
	for (; k && k->name; k++)
		printf("%s\t%s\t%s\t%s\t%s\n", section, k->name, types[k->type], k->def ? k->def : "",
		       k->help ? k->help : "");
}

int main(int argc, char **argv)
{
	enum { OPT_CONF_DIR = 256, OPT_PLUGIN_DIR, OPT_STATE_DIR, OPT_DATA_DIR, OPT_CONTROL, OPT_CHECK, OPT_REPLAY,
	       OPT_LIST_KEYS, OPT_VERSION };
	static const struct option opts[] = {
		{"foreground", no_argument, NULL, 'f'},
		{"config", required_argument, NULL, 'c'},
		{"conf-dir", required_argument, NULL, OPT_CONF_DIR},
		{"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"data-dir", required_argument, NULL, OPT_DATA_DIR},
		{"control-socket", required_argument, NULL, OPT_CONTROL},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"replay", required_argument, NULL, OPT_REPLAY},
		{"list-keys", no_argument, NULL, OPT_LIST_KEYS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{},
	};
	struct vigil_options o = {0};
	struct vigil_core *core = NULL;
	bool list_keys = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "fc:h", opts, NULL)) >= 0) {
		switch (c) {
		case 'f':
			o.foreground = true;
			break;
		case 'c':
			o.config_file = optarg;
			break;
		case OPT_CONF_DIR:
			o.conf_dir = optarg;
			break;
		case OPT_PLUGIN_DIR:
			o.plugin_dir = optarg;
			break;
		case OPT_STATE_DIR:
			o.state_dir = optarg;
			break;
		case OPT_DATA_DIR:
			o.data_dir = optarg;
			break;
		case OPT_CONTROL:
			o.control_socket = optarg;
			break;
		case OPT_CHECK:
			o.check_only = true;
			break;
		case OPT_REPLAY:
			o.replay_file = optarg;
			break;
		case OPT_LIST_KEYS:
			list_keys = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("vigild %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vigild: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	o.uninstalled = running_uninstalled();
	/* As a service: the journal. Foreground, replay, checks: stderr. */
	bool interactive = o.foreground || o.check_only || o.replay_file || list_keys;
	vigil_log_open(!interactive, LOG_INFO);

	r = vigil_core_new(&o, &core);
	if (r < 0) {
		log_error_errno(r, "cannot initialise: %m");
		return 1;
	}
	if (list_keys) {
		print_keys("agent", vigil_agent_keys);
		print_keys("rule NAME", vigil_rule_keys);
	}
	r = vigil_core_load(core);
	if (r < 0) {
		if (o.check_only)
			fprintf(stderr, "vigild: configuration is invalid\n");
		vigil_core_free(core);
		return 1;
	}
	if (list_keys)
		vigil_core_list_keys(core, print_keys);
	if (list_keys || o.check_only) {
		if (o.check_only)
			printf("configuration OK\n");
		vigil_core_free(core);
		return 0;
	}
	if (o.replay_file) {
		r = vigil_core_replay(core, o.replay_file);
		vigil_core_free(core);
		return r < 0 ? 1 : 0;
	}
	r = vigil_core_start(core);
	if (r >= 0)
		r = vigil_core_run(core);
	vigil_core_free(core);
	return r < 0 ? 1 : 0;
}
