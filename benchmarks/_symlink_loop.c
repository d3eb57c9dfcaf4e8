/* The physical limit for the link benchmarks: a plain symlink() loop.
 *
 * Usage: symlink_loop PAIRS_FILE
 * PAIRS_FILE holds NUL-terminated strings: source, target, source, target, ...
 * Reading the file is not timed; the program prints the seconds spent in the
 * symlink() loop alone and exits non-zero on the first failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PAIRS_FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        perror("fseek");
        return 1;
    }
    long size = ftell(f);
    rewind(f);
    char *data = malloc((size_t)size + 1);
    if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    data[size] = '\0';

    size_t count = 0;
    for (long i = 0; i < size; i++)
        if (data[i] == '\0')
            count++;
    char **strings = malloc((count + 1) * sizeof(char *));
    if (!strings) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    size_t n = 0;
    for (char *p = data; p < data + size; p += strlen(p) + 1)
        strings[n++] = p;

    struct timespec start, stop;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (symlink(strings[i], strings[i + 1]) != 0) {
            perror(strings[i + 1]);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &stop);
    printf("%.9f\n", (double)(stop.tv_sec - start.tv_sec) +
                         (double)(stop.tv_nsec - start.tv_nsec) / 1e9);
    free(strings);
    free(data);
    return 0;
}
