// Time and randomness: time(), clock_gettime, clock(), srand(time(NULL)),
// getentropy. Its output depends on the clock and the random source, so it
// is deterministic only under wasm-sandbox's virtual clock and seeded PRNG.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned sink;

int main(void) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    printf("time %lld %s\n", (long long)now, date);
    struct timespec a, b, r;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (unsigned i = 0; i < 100000; i++) sink += i * i;
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("loop took %lld ns (monotonic %lld.%09ld)\n", ns, (long long)b.tv_sec, b.tv_nsec);
    clock_getres(CLOCK_REALTIME, &r);
    printf("resolution %ld ns\n", r.tv_nsec);
    srand((unsigned)now);
    printf("rand %d %d %d\n", rand(), rand(), rand());
    unsigned char bytes[16];
    if (getentropy(bytes, sizeof bytes) != 0) return 1;
    for (int i = 0; i < 16; i++) printf("%02x", bytes[i]);
    printf("\n");
    return 0;
}
