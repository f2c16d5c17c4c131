// SPDX-License-Identifier: GPL-2.0
/*
 * vigil_testmod - provoke real kernel failure reports for the vigil QEMU lab.
 *
 * Never load this on a machine you care about.  Triggers, all under
 * /sys/kernel/debug/vigil_testmod/ (write a decimal number):
 *
 *   softlockup N   spin with preemption disabled for N seconds (max 120) on
 *                  the writing CPU -> "watchdog: BUG: soft lockup - CPU#x"
 *                  once N > 2 * kernel.watchdog_thresh
 *   oops       1   write through a NULL pointer -> "BUG: kernel NULL pointer
 *                  dereference" + Oops; the writing task is killed (write from
 *                  a child shell, not from an interactive shell's builtin)
 *   warn       1   WARN() -> "WARNING: CPU: ... vigil_testmod"
 *   bug        1   BUG() -> "kernel BUG at ..." + "invalid opcode" Oops
 *   hold_mutex N   a kernel thread takes the test mutex and keeps it for N
 *                  seconds (max 600), sleeping interruptibly (so it is not
 *                  itself a hung task); the write returns once it is held
 *   take_mutex 1   take the test mutex uninterruptibly: the writer sits in D
 *                  state until the holder lets go -> "INFO: task ... blocked
 *                  for more than N seconds" (hung task detector)
 *   storm      N   N kernel log records (max 10000000) as fast as printk
 *                  takes them, at KERN_DEBUG so the console does not slow
 *                  them down; then one KERN_INFO summary line with the time
 *                  taken (the ring holds a few thousand: a reader that falls
 *                  behind loses records to the overwrite)
 */
#include <linux/module.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/ktime.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/uaccess.h>

static struct dentry *dir;
static DEFINE_MUTEX(test_mutex);

static int parse_uint(const char __user *buf, size_t len, unsigned int *val)
{
	return kstrtouint_from_user(buf, len, 10, val);
}

/* Spin with preemption off: the per-CPU watchdog thread cannot run, so the
 * soft lockup detector fires after 2 * watchdog_thresh seconds. */
static noinline ssize_t softlockup_write(struct file *f, const char __user *buf,
					 size_t len, loff_t *ppos)
{
	unsigned int secs;
	unsigned long end;
	int ret = parse_uint(buf, len, &secs);

	if (ret)
		return ret;
	if (secs > 120)
		return -EINVAL;
	pr_info("vigil_testmod: spinning for %u s with preemption disabled\n", secs);
	end = jiffies + secs * HZ;
	preempt_disable();
	while (time_before(jiffies, end))
		cpu_relax();
	preempt_enable();
	pr_info("vigil_testmod: spin done\n");
	return len;
}

static noinline ssize_t oops_write(struct file *f, const char __user *buf,
				   size_t len, loff_t *ppos)
{
	int *volatile p = NULL;	/* volatile: the store must really happen */

	pr_info("vigil_testmod: writing through a NULL pointer\n");
	*p = 1;
	return len;
}

static noinline ssize_t warn_write(struct file *f, const char __user *buf,
				   size_t len, loff_t *ppos)
{
	WARN(1, "vigil_testmod: test warning\n");
	return len;
}

static noinline ssize_t bug_write(struct file *f, const char __user *buf,
				  size_t len, loff_t *ppos)
{
	pr_info("vigil_testmod: calling BUG()\n");
	BUG();
	return len;
}

struct holder {
	unsigned int secs;
	struct completion taken;
};

static int holder_fn(void *arg)
{
	struct holder *h = arg;
	unsigned long left = h->secs * HZ;

	mutex_lock(&test_mutex);
	pr_info("vigil_testmod: mutex held for %u s by pid %d\n", h->secs, current->pid);
	complete(&h->taken);	/* h belongs to the writer; do not touch it after this */
	while (left && !kthread_should_stop())
		left = schedule_timeout_interruptible(left);
	mutex_unlock(&test_mutex);
	pr_info("vigil_testmod: mutex released\n");
	return 0;
}

static ssize_t hold_mutex_write(struct file *f, const char __user *buf,
				size_t len, loff_t *ppos)
{
	struct holder h;
	struct task_struct *t;
	int ret = parse_uint(buf, len, &h.secs);

	if (ret)
		return ret;
	if (h.secs > 600)
		return -EINVAL;
	init_completion(&h.taken);
	t = kthread_run(holder_fn, &h, "vigil_holder");
	if (IS_ERR(t))
		return PTR_ERR(t);
	wait_for_completion(&h.taken);
	return len;
}

static ssize_t take_mutex_write(struct file *f, const char __user *buf,
				size_t len, loff_t *ppos)
{
	pr_info("vigil_testmod: pid %d taking the mutex\n", current->pid);
	mutex_lock(&test_mutex);	/* uninterruptible: D state while held */
	mutex_unlock(&test_mutex);
	pr_info("vigil_testmod: pid %d got the mutex\n", current->pid);
	return len;
}

static ssize_t storm_write(struct file *f, const char __user *buf,
			   size_t len, loff_t *ppos)
{
	unsigned int n, i;
	u64 t0;
	int ret = parse_uint(buf, len, &n);

	if (ret)
		return ret;
	if (n > 10000000)
		return -EINVAL;
	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		printk(KERN_DEBUG "vigil_testmod: storm record %u of %u\n", i + 1, n);
		if ((i & 1023) == 1023)
			cond_resched();
	}
	pr_info("vigil_testmod: storm of %u records in %llu us\n", n,
		(unsigned long long)((ktime_get_ns() - t0) / 1000));
	return len;
}

#define TRIGGER(name) \
	static const struct file_operations name##_fops = { \
		.owner = THIS_MODULE, .write = name##_write, \
		.llseek = noop_llseek, }
TRIGGER(softlockup);
TRIGGER(oops);
TRIGGER(warn);
TRIGGER(bug);
TRIGGER(hold_mutex);
TRIGGER(take_mutex);
TRIGGER(storm);

static int __init vigil_testmod_init(void)
{
	dir = debugfs_create_dir("vigil_testmod", NULL);
	debugfs_create_file("softlockup", 0200, dir, NULL, &softlockup_fops);
	debugfs_create_file("oops", 0200, dir, NULL, &oops_fops);
	debugfs_create_file("warn", 0200, dir, NULL, &warn_fops);
	debugfs_create_file("bug", 0200, dir, NULL, &bug_fops);
	debugfs_create_file("hold_mutex", 0200, dir, NULL, &hold_mutex_fops);
	debugfs_create_file("take_mutex", 0200, dir, NULL, &take_mutex_fops);
	debugfs_create_file("storm", 0200, dir, NULL, &storm_fops);
	pr_info("vigil_testmod: loaded\n");
	return 0;
}

static void __exit vigil_testmod_exit(void)
{
	/* a holder thread still running keeps the module busy via the mutex
	 * only briefly; the lab never unloads while it runs */
	debugfs_remove_recursive(dir);
}

module_init(vigil_testmod_init);
module_exit(vigil_testmod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vigil QEMU lab: provoke soft lockups, Oopses, warnings and hung tasks");
