// Lots of output through every stdio path: printf, puts, putchar, fwrite,
// fputs to stderr, fflush. Deterministic (no clock, no randomness).
#include <stdio.h>
#include <string.h>

int main(void) {
    puts("stdio: start");
    unsigned long long checksum = 0;
    for (int i = 0; i < 1500; i++) {
        checksum = checksum * 31 + (unsigned)i * 2654435761u;
        printf("line %4d: %08llx %-6s|%6.2f|%c\n", i, checksum & 0xffffffffull,
               i % 3 == 0 ? "fizz" : (i % 5 == 0 ? "buzz" : "-"), i / 7.0, 'a' + i % 26);
        if (i % 500 == 0) {
            fprintf(stderr, "progress %d\n", i);
        }
    }
    char block[4096];
    for (size_t k = 0; k < sizeof block; k++) block[k] = 'A' + (char)(k % 26);
    for (int rep = 0; rep < 8; rep++) {
        fwrite(block, 1, sizeof block, stdout);
        putchar('\n');
    }
    fputs("stderr: done\n", stderr);
    printf("checksum %llu\n", checksum);
    fflush(stdout);
    puts("stdio: end");
    return 0;
}
