// Prints its arguments and environment, then exits as told:
//   args exit N     -> exit(N) (after an atexit handler prints)
//   args return N   -> return N from main
//   args abort      -> abort() (a trap)
//   anything else   -> return 0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void bye(void) { printf("atexit handler ran\n"); }

int main(int argc, char **argv) {
    atexit(bye);
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    const char *home = getenv("HOME");
    printf("HOME=%s\n", home ? home : "(unset)");
    printf("buffered, no newline at the end");
    if (argc >= 3 && strcmp(argv[1], "exit") == 0) exit(atoi(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "return") == 0) return atoi(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "abort") == 0) abort();
    return 0;
}
