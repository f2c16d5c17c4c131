/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A minimal plugin for the loader tests; built three ways: good, with a
 * wrong ABI version, and without the descriptor symbol. */
#include "vigil/plugin.h"

static int __attribute__((unused)) test_init(struct vigil_ctx *ctx, const struct vigil_section *sec, void **ret)
{
	*ret = NULL;
	return 0;
}

static const struct vigil_config_key __attribute__((unused)) test_keys[] = {
	{"answer", VIGIL_CFG_INT, "42", 0, 100, .help = "a number"},
	{NULL},
};

#ifndef TEST_NO_SYMBOL
const struct vigil_plugin vigil_plugin = {
#ifdef TEST_BAD_ABI
	.abi_version = VIGIL_PLUGIN_ABI_VERSION + 1,
#else
	.abi_version = VIGIL_PLUGIN_ABI_VERSION,
#endif
	.kind = VIGIL_PLUGIN_MONITOR,
	.name = "testplugin",
	.keys = test_keys,
	.init = test_init,
};
#else
const struct vigil_plugin not_the_descriptor = {.name = "testplugin"};
#endif
