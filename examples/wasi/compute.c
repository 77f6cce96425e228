// libc without I/O surprises: malloc/free, qsort, string.h, math.h,
// rand/srand with a fixed seed. Deterministic.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    // malloc/free: a growing list of blocks, freed in a scrambled order.
    enum { N = 1000 };
    int **blocks = malloc(N * sizeof *blocks);
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        size_t n = 1 + (size_t)(i * 37 % 97);
        blocks[i] = malloc(n * sizeof(int));
        for (size_t k = 0; k < n; k++) blocks[i][k] = (int)(i + k);
        total += n;
    }
    long long sum = 0;
    for (int i = 0; i < N; i++) {
        int j = (i * 7919) % N;
        sum += blocks[j][0];
        free(blocks[j]);
        blocks[j] = NULL;
    }
    free(blocks);
    printf("malloc: %zu ints, sum %lld\n", total, sum);

    // rand/srand and qsort.
    srand(12345);
    int *values = malloc(2000 * sizeof(int));
    for (int i = 0; i < 2000; i++) values[i] = rand() % 100000;
    qsort(values, 2000, sizeof(int), cmp_int);
    printf("qsort: min %d median %d max %d\n", values[0], values[1000], values[1999]);
    for (int i = 1; i < 2000; i++) {
        if (values[i - 1] > values[i]) {
            printf("qsort: NOT SORTED at %d\n", i);
            return 1;
        }
    }
    free(values);

    // string.h.
    char buf[256];
    strcpy(buf, "the quick brown fox");
    strcat(buf, " jumps over the lazy dog");
    printf("strlen %zu, strstr '%s', strchr '%s'\n", strlen(buf), strstr(buf, "fox"), strchr(buf, 'l'));
    char *words[16];
    int nwords = 0;
    char copy[256];
    strncpy(copy, buf, sizeof copy);
    for (char *w = strtok(copy, " "); w && nwords < 16; w = strtok(NULL, " ")) words[nwords++] = w;
    qsort(words, nwords, sizeof words[0], cmp_str);
    for (int i = 0; i < nwords; i++) printf("%s%s", words[i], i + 1 < nwords ? "," : "\n");
    memset(buf, 'x', 10);
    buf[10] = 0;
    printf("memset %s memcmp %d\n", buf, memcmp("abc", "abd", 3) < 0);

    // math.h.
    double acc = 0;
    for (int i = 1; i <= 500; i++) {
        double x = i / 100.0;
        acc += sqrt(x) + sin(x) * cos(x) + log(x) + exp(-x) + pow(x, 1.5) + atan2(x, 3.0);
    }
    printf("math: %.9f %.6f %.6f %.3e\n", acc, floor(acc / 7), fmod(acc, 3.0), hypot(3e200, 4e200));
    printf("strtod %.4f atoi %d strtol %ld\n", strtod("3.14159", NULL), atoi("-42"), strtol("ff", NULL, 16));
    return 0;
}
