// Reads all of stdin, then prints a word count and the lines sorted (like
// `wc` and `sort`). Works with any chunking of the input.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_line(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    size_t cap = 1024, len = 0;
    char *text = malloc(cap);
    int c;
    long words = 0, lines = 0;
    int in_word = 0;
    while ((c = getchar()) != EOF) {
        if (len + 2 > cap) {
            cap *= 2;
            text = realloc(text, cap);
        }
        text[len++] = (char)c;
        if (c == '\n') lines++;
        if (isspace(c)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    text[len] = 0;
    printf("%ld %ld %zu\n", lines, words, len);
    char **list = malloc((lines + 2) * sizeof *list);
    size_t n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) list[n++] = line;
    qsort(list, n, sizeof *list, cmp_line);
    for (size_t i = 0; i < n; i++) puts(list[i]);
    free(list);
    free(text);
    return 0;
}
