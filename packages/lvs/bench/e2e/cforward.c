/*
 * The reference point for the loss-free rate: a minimal forwarder in C over the lab's two TAP devices, with
 * the two system calls per frame every userspace TAP forwarder pays (read() on the client tap, write() on the server
 * tap; poll() only when a read finds nothing). It does the least a NAT director must do for the bench's UDP stream:
 * answers ARP for the VIP on the client side, and rewrites client -> VIP:port UDP frames to the real server (MACs,
 * destination address, incremental IPv4 and UDP checksums, RFC 1624). No connection table, no scheduling, no
 * statistics, no other protocol: everything else is dropped. bench:e2e builds it with `cc -O2` (variant c-nat).
 *
 *   cforward <client tap> <server tap> <vip> <real server ip> <real server mac>
 *
 * Run it inside the director's namespace (the taps are looked up there). Prints "ready" once both taps are open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const uint8_t OWN_MAC[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};

static int open_tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) return -1;
  return fd;
}

static int parse_mac(const char *s, uint8_t *mac) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (uint8_t)v[i];
  return 0;
}

/* RFC 1624: HC' = ~(~HC + ~m + m') over the 16-bit words of a 32-bit field that changed from old to new. */
static uint16_t csum_replace4(uint16_t check, uint32_t old, uint32_t new) {
  uint32_t sum = (uint16_t)~check;
  sum += (uint16_t)~(old >> 16) + (uint16_t)~(old & 0xffff);
  sum += (new >> 16) + (new & 0xffff);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static volatile sig_atomic_t stop = 0;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: cforward <client tap> <server tap> <vip> <real server ip> <real server mac>\n");
    return 2;
  }
  int in = open_tap(argv[1]);
  int out = open_tap(argv[2]);
  struct in_addr vip, rip;
  uint8_t rmac[6];
  if (in < 0 || out < 0 || inet_pton(AF_INET, argv[3], &vip) != 1 || inet_pton(AF_INET, argv[4], &rip) != 1 ||
      parse_mac(argv[5], rmac) != 0) {
    fprintf(stderr, "cforward: bad arguments or tap not found: %s\n", strerror(errno));
    return 1;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  printf("ready\n");
  fflush(stdout);
  uint8_t f[2048];
  struct pollfd p = {.fd = in, .events = POLLIN};
  while (!stop) {
    ssize_t n = read(in, f, sizeof f);
    if (n < 0) {
      if (errno == EAGAIN) poll(&p, 1, 100);
      continue;
    }
    if (n < 42) continue;
    uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
    if (type == 0x0806) {
      /* ARP request for the VIP: answer from OWN_MAC. */
      if (f[20] != 0 || f[21] != 1 || memcmp(f + 38, &vip, 4) != 0) continue;
      memcpy(f, f + 6, 6);
      memcpy(f + 6, OWN_MAC, 6);
      f[21] = 2;
      memcpy(f + 32, f + 22, 10); /* target = the asker */
      memcpy(f + 22, OWN_MAC, 6);
      memcpy(f + 28, &vip, 4);
      (void)!write(in, f, (size_t)n);
      continue;
    }
    if (type != 0x0800 || (f[14] >> 4) != 4) continue;
    size_t ihl = (size_t)(f[14] & 15) * 4;
    if (f[23] != 17 || memcmp(f + 30, &vip, 4) != 0 || (size_t)n < 14 + ihl + 8) continue;
    uint32_t old_dst, new_dst = rip.s_addr;
    memcpy(&old_dst, f + 30, 4);
    memcpy(f + 30, &new_dst, 4);
    uint16_t ipsum = (uint16_t)(f[24] << 8 | f[25]);
    ipsum = csum_replace4(ipsum, ntohl(old_dst), ntohl(new_dst));
    f[24] = (uint8_t)(ipsum >> 8);
    f[25] = (uint8_t)ipsum;
    uint8_t *udp = f + 14 + ihl;
    uint16_t usum = (uint16_t)(udp[6] << 8 | udp[7]);
    if (usum != 0) {
      usum = csum_replace4(usum, ntohl(old_dst), ntohl(new_dst));
      if (usum == 0) usum = 0xffff;
      udp[6] = (uint8_t)(usum >> 8);
      udp[7] = (uint8_t)usum;
    }
    memcpy(f, rmac, 6);
    memcpy(f + 6, OWN_MAC, 6);
    (void)!write(out, f, (size_t)n);
  }
  return 0;
}
