/*
 * flannel-udp-peer — a minimal implementation of Flannel's udp backend data path
 * (F:pkg/backend/udp/proxy_amd64.c), for wire-compatibility tests and as the "one packet per
 * syscall" floor of the udp benchmark. Deliberately Flannel's design, and no faster:
 *   - TUN opened with IFF_TUN | IFF_NO_PI (bare IPv4 packets, no packet-info header);
 *   - one UDP socket bound to BIND_IP:PORT; each datagram is exactly one bare IPv4 packet,
 *     no flannel header; datagrams go to the peer's PublicIP on the same PORT;
 *   - one thread, poll() on both fds, then one read()/one sendto() (TUN → UDP) and one
 *     recv()/one write() (UDP → TUN) per packet, looping while either fd is readable;
 *   - peers in a linear table of (subnet → public IP), the hit moved to the front;
 *   - TTL decremented on both paths (checksum patched incrementally, RFC 1624), 0 → dropped;
 *   - no peer for the destination → dropped (Flannel also writes an ICMP net-unreachable back
 *     into the TUN; this floor does not), no source validation (as Flannel).
 * Address, MTU, link state and the Network route of the TUN are left to the caller
 * (`ip addr/link/route`), as Flannel's Go side does them outside the C proxy.
 *
 * Usage:
 *   flannel-udp-peer TUN_NAME BIND_IP PORT MTU [SUBNET/LEN=PUBLIC_IP ...]
 *   e.g. flannel-udp-peer flannel0 198.18.0.50 8285 1472 10.244.1.0/24=198.18.0.1 10.244.2.0/24=198.18.0.2
 * It prints "READY" on stdout once the TUN and the socket are open, runs until SIGTERM/SIGINT,
 * then prints "tun_rx=N udp_tx=N udp_rx=N tun_tx=N dropped=N" and exits 0. Build: gcc -O2 -o
 * flannel-udp-peer flannel-udp-peer.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PEERS 256

struct peer {
	uint32_t net; /* network byte order */
	uint32_t mask;
	struct sockaddr_in addr;
};

static struct peer peers[MAX_PEERS];
static int peer_count;
static volatile sig_atomic_t stopping;
static unsigned long tun_rx, udp_tx, udp_rx, tun_tx, dropped;

static void on_signal(int sig) { (void)sig; stopping = 1; }

static void die(const char *what) {
	fprintf(stderr, "flannel-udp-peer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void) {
	fprintf(stderr, "usage: flannel-udp-peer TUN_NAME BIND_IP PORT MTU [SUBNET/LEN=PUBLIC_IP ...]\n");
	exit(2);
}

static void add_peer(const char *spec, int port) {
	char buf[64];
	if (peer_count == MAX_PEERS || strlen(spec) >= sizeof(buf)) usage();
	strcpy(buf, spec);
	char *eq = strchr(buf, '='), *slash = strchr(buf, '/');
	if (eq == NULL || slash == NULL || slash > eq) usage();
	*eq = '\0';
	*slash = '\0';
	int len = atoi(slash + 1);
	struct peer *p = &peers[peer_count++];
	if (len < 0 || len > 32 || inet_pton(AF_INET, buf, &p->net) != 1) usage();
	p->mask = len == 0 ? 0 : htonl(~0u << (32 - len));
	p->net &= p->mask;
	p->addr.sin_family = AF_INET;
	p->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, eq + 1, &p->addr.sin_addr) != 1) usage();
}

/* Linear search; the hit moves to the front (Flannel's find_route). */
static struct peer *find_peer(uint32_t dst) {
	for (int i = 0; i < peer_count; i++) {
		if ((dst & peers[i].mask) == peers[i].net) {
			if (i > 0) {
				struct peer hit = peers[i];
				memmove(&peers[1], &peers[0], (size_t)i * sizeof(struct peer));
				peers[0] = hit;
			}
			return &peers[0];
		}
	}
	return NULL;
}

/* Decrements the TTL, patching the header checksum (RFC 1624); 0 when the packet must go. */
static int decrement_ttl(uint8_t *ip, ssize_t len) {
	if (len < 20 || (ip[0] >> 4) != 4) return 0;
	if (ip[8] <= 1) return 0;
	uint16_t old_word = (uint16_t)((ip[8] << 8) | ip[9]);
	ip[8]--;
	uint16_t new_word = (uint16_t)((ip[8] << 8) | ip[9]);
	uint32_t sum = (uint16_t)~((ip[10] << 8) | ip[11]);
	sum += (uint16_t)~old_word;
	sum += new_word;
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	uint16_t check = (uint16_t)~sum;
	ip[10] = (uint8_t)(check >> 8);
	ip[11] = (uint8_t)check;
	return 1;
}

/* One packet TUN → UDP; 0 when the TUN had nothing to read. */
static int tun_to_udp(int tun, int sock, uint8_t *buf, size_t size) {
	ssize_t n = read(tun, buf, size);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
		die("read tun");
	}
	tun_rx++;
	uint32_t dst;
	if (n < 20) { dropped++; return 1; }
	memcpy(&dst, buf + 16, 4);
	struct peer *p = find_peer(dst);
	if (p == NULL || !decrement_ttl(buf, n)) { dropped++; return 1; }
	if (sendto(sock, buf, (size_t)n, 0, (struct sockaddr *)&p->addr, sizeof(p->addr)) < 0) {
		dropped++;
		return 1;
	}
	udp_tx++;
	return 1;
}

/* One datagram UDP → TUN; 0 when the socket had nothing to read. */
static int udp_to_tun(int sock, int tun, uint8_t *buf, size_t size) {
	ssize_t n = recv(sock, buf, size, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
		die("recv");
	}
	udp_rx++;
	if (!decrement_ttl(buf, n)) { dropped++; return 1; }
	if (write(tun, buf, (size_t)n) < 0) { dropped++; return 1; }
	tun_tx++;
	return 1;
}

int main(int argc, char **argv) {
	if (argc < 5) usage();
	const char *tun_name = argv[1];
	int port = atoi(argv[3]);
	int mtu = atoi(argv[4]);
	if (port <= 0 || port > 65535 || mtu < 68 || mtu > 65535 || strlen(tun_name) >= IFNAMSIZ) usage();
	for (int i = 5; i < argc; i++) add_peer(argv[i], port);

	int tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tun < 0) die("open /dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	strncpy(ifr.ifr_name, tun_name, IFNAMSIZ - 1);
	if (ioctl(tun, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");

	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sock < 0) die("socket");
	struct sockaddr_in bind_addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, argv[2], &bind_addr.sin_addr) != 1) usage();
	if (bind(sock, (struct sockaddr *)&bind_addr, sizeof(bind_addr)) < 0) die("bind");

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	size_t size = (size_t)mtu;
	uint8_t *buf = malloc(size);
	if (buf == NULL) die("malloc");
	printf("READY\n");
	fflush(stdout);

	struct pollfd fds[2] = { { .fd = tun, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
	while (!stopping) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR) continue;
			die("poll");
		}
		/* As long as either fd is readable, skip poll() (as Flannel's run_proxy). */
		int activity;
		do {
			activity = tun_to_udp(tun, sock, buf, size);
			activity += udp_to_tun(sock, tun, buf, size);
		} while (activity && !stopping);
	}
	printf("tun_rx=%lu udp_tx=%lu udp_rx=%lu tun_tx=%lu dropped=%lu\n", tun_rx, udp_tx, udp_rx, tun_tx, dropped);
	fflush(stdout);
	return 0;
}
