/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>

#include "audit.h"
#include "daemon.h"
#include "linkmon.h"
#include "timeutil.h"

struct linkmon {
	struct server *server;
	struct mnl_socket *sock;
	sd_event_source *source;
	sd_event_source *route_check; /* debounced re-resolution of route-found edges */
	/* Edges' interfaces by name, as the kernel last said (see linkmon_resolve_ifindex) */
	struct {
		char name[IF_NAMESIZE];
		int ifindex;
	} cache[8];
	unsigned n_cache;
};

void linkmon_ifname(const struct edge *e, int ifindex, char ret[IF_NAMESIZE])
{
	/* Its configured name (it was resolved by that name), or the kernel's, which costs
	 * three system calls (if_indextoname). */
	if (e->ifname[0])
		strcpy_cut(ret, IF_NAMESIZE, e->ifname);
	else if (!if_indextoname((unsigned)ifindex, ret))
		snprintf(ret, IF_NAMESIZE, "%d", ifindex);
}

/* Whether the monitor has nothing unread. The kernel queues the notification of a rename or a
 * deletion on it before the system call that made the change returns, so while it is quiet,
 * what it said last is still true. ENOBUFS (lost events) is not quiet either. */
static bool quiet(struct linkmon *m)
{
	char c;

	return recv(mnl_socket_get_fd(m->sock), &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
			(errno == EAGAIN || errno == EWOULDBLOCK);
}

static int on_monitor(sd_event_source *es, int fd, uint32_t revents, void *userdata);

int linkmon_resolve_ifindex(struct linkmon *m, const struct edge *e, int *ret_ifindex,
		struct diag *d)
{
	struct kernel_netlink *kn = &m->server->kn;
	bool is_quiet = false;
	int ifindex, r;

	/* What the monitor has queued is read now: sd-event dispatches one source per loop
	 * iteration, and back-to-back requests (a higher priority) would keep it unread, and
	 * the cache unused, for as long as they come. One look when nothing is queued. */
	for (unsigned i = 0; e->ifname[0] && i < 16 && !(is_quiet = quiet(m)); i++)
		(void)on_monitor(m->source, mnl_socket_get_fd(m->sock), EPOLLIN, m);
	if (is_quiet)
		for (unsigned i = 0; i < m->n_cache; i++)
			if (streq(m->cache[i].name, e->ifname)) {
				*ret_ifindex = m->cache[i].ifindex;
				return 0;
			}
	r = datapath_resolve_ifindex(kn->dp, e, &ifindex, d);
	if (r < 0)
		return r;
	/* quiet since the answer: nothing changed the name in between */
	if (e->ifname[0] && quiet(m)) {
		unsigned i = 0;
		while (i < m->n_cache && !streq(m->cache[i].name, e->ifname))
			i++;
		if (i == ELEMENTSOF(m->cache))
			i = 0; /* full: the first one is replaced */
		else if (i == m->n_cache)
			m->n_cache++;
		strcpy_cut(m->cache[i].name, sizeof(m->cache[i].name), e->ifname);
		m->cache[i].ifindex = ifindex;
	}
	*ret_ifindex = ifindex;
	return 0;
}

/* Edges found by route follow their route: a fault moves when the route does. */
static int on_route_check(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct linkmon *m = userdata;
	struct server *s = m->server;

	for (unsigned i = faults_count(s->faults); i-- > 0;) {
		struct active_fault *af = faults_at(s->faults, i);
		char ifname[IF_NAMESIZE];
		uint64_t id;
		struct diag d;
		int ifindex;

		if (!af || af->edge.ifname[0])
			continue;
		diag_init(&d);
		if (datapath_resolve_ifindex(s->kn.dp, &af->edge, &ifindex, &d) < 0 ||
				ifindex == af->ifindex)
			continue;
		id = af->id;
		log_notice("edge '%s' now routes via interface index %d instead of '%s': moving "
				"fault %" PRIu64, af->edge.name, ifindex, af->ifname, id);
		linkmon_ifname(&af->edge, ifindex, ifname);
		if (faults_move(s->faults, id, config_find_edge(s->config, af->edge.name), ifindex,
				ifname, &d) < 0)
			log_error("moving fault %" PRIu64 ": %s", id, diag_text(&d));
	}
	return 0;
}

static int on_monitor(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct linkmon *m = userdata;
	char buf[16384];
	ssize_t got;
	int n;

	got = mnl_socket_recvfrom(m->sock, buf, sizeof(buf));
	if (got < 0) {
		m->n_cache = 0; /* what was lost may have renamed one */
		/* ENOBUFS: events were lost; re-checking routes covers the moves we missed. */
		if (errno == ENOBUFS)
			sd_event_source_set_enabled(m->route_check, SD_EVENT_ONESHOT);
		return 0;
	}
	n = (int)got;
	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n);
			nlh = mnl_nlmsg_next(nlh, &n)) {
		const struct ifinfomsg *ifi;
		const struct nlattr *attr;
		const char *name = "?";

		switch (nlh->nlmsg_type) {
		case RTM_NEWLINK:
		case RTM_DELLINK:
			m->n_cache = 0; /* names are asked from the kernel again */
			ifi = mnl_nlmsg_get_payload(nlh);
			mnl_attr_for_each(attr, nlh, sizeof(*ifi))
				if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
						mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
					name = mnl_attr_get_str(attr);
			if (nlh->nlmsg_type == RTM_DELLINK)
				faults_interface_deleted(m->server->faults, ifi->ifi_index, name);
			else
				faults_interface_renamed(m->server->faults, ifi->ifi_index, name);
			break;
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			sd_event_source_set_time_relative(m->route_check, 100 * USEC_PER_MSEC);
			sd_event_source_set_enabled(m->route_check, SD_EVENT_ONESHOT);
			break;
		}
	}
	return 0;
}

int linkmon_new(struct server *s, struct linkmon **ret)
{
	struct linkmon *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	m->server = s;
	m->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->sock) {
		r = negative_errno();
		goto fail;
	}
	if (mnl_socket_bind(m->sock, RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
			    MNL_SOCKET_AUTOPID) < 0) {
		r = negative_errno();
		goto fail;
	}
	r = sd_event_add_io(s->event, &m->source, mnl_socket_get_fd(m->sock), EPOLLIN, on_monitor,
			m);
	if (r >= 0)
		r = sd_event_add_time_relative(s->event, &m->route_check, CLOCK_MONOTONIC,
				100 * USEC_PER_MSEC, 10 * USEC_PER_MSEC, on_route_check, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->route_check, SD_EVENT_OFF);
	if (r < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	linkmon_free(m);
	return r;
}

struct linkmon *linkmon_free(struct linkmon *m)
{
	if (!m)
		return NULL;
	sd_event_source_disable_unref(m->source);
	sd_event_source_disable_unref(m->route_check);
	if (m->sock)
		mnl_socket_close(m->sock);
	free(m);
	return NULL;
}
