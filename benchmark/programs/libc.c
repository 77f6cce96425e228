// A real libc program (wasi-libc): malloc'd records, qsort with a
// comparator called through a function pointer, snprintf/strtol/strcmp,
// printf of the result. Built for wasm32-wasi (see build.sh).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
    char name[24];
    long value;
};

static int by_name(const void *a, const void *b) {
    const struct record *x = *(const struct record *const *)a;
    const struct record *y = *(const struct record *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->value > y->value) - (x->value < y->value);
}

int main(void) {
    enum { N = 40000 };
    struct record **records = malloc(N * sizeof *records);
    unsigned x = 2463534242u;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        records[i] = malloc(sizeof(struct record));
        snprintf(records[i]->name, sizeof records[i]->name, "key-%08x", x % 100000u);
        records[i]->value = strtol(records[i]->name + 4, NULL, 16) ^ i;
    }
    qsort(records, N, sizeof *records, by_name);
    unsigned long check = 0;
    for (int i = 0; i < N; i++) {
        if (i > 0 && by_name(&records[i - 1], &records[i]) > 0) return 1;
        check = check * 31 + (unsigned long)records[i]->value + strlen(records[i]->name);
    }
    for (int i = 0; i < N; i++) free(records[i]);
    free(records);
    printf("%d records sorted, check %lu\n", N, check);
    return 0;
}
