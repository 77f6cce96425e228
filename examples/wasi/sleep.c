// Sleeps (nanosleep, usleep, sleep: poll_oneoff clock subscriptions) and
// prints the monotonic time before and after each.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void) {
    long long t0 = now_ns();
    struct timespec req = {0, 250000000};
    nanosleep(&req, NULL);
    long long t1 = now_ns();
    printf("nanosleep 250ms: slept >= 250ms: %s\n", t1 - t0 >= 250000000LL ? "yes" : "no");
    usleep(1500);
    long long t2 = now_ns();
    printf("usleep 1500us: slept >= 1.5ms: %s\n", t2 - t1 >= 1500000LL ? "yes" : "no");
    sleep(2);
    long long t3 = now_ns();
    printf("sleep 2s: slept >= 2s: %s\n", t3 - t2 >= 2000000000LL ? "yes" : "no");
    printf("total %lld ns\n", t3 - t0);
    return 0;
}
