/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kernlog: stub while the real implementation lands (see kernlog.h). */
#include <errno.h>
#include "kernlog/kernlog.h"

int kl_signatures_load_dir(const char *dir, struct kl_signatures **ret, char **ret_error) { return -EOPNOTSUPP; }
struct kl_signatures *kl_signatures_free(struct kl_signatures *s) { return NULL; }
int kl_scan_buffer(const char *buf, size_t len, const struct kl_signatures *sigs,
		   int (*cb)(struct vigil_event *ev, void *userdata), void *userdata) { return -EOPNOTSUPP; }
