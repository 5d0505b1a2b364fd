/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replay driver for the fuzz targets: feeds each file named on the command
 * line, or every file of a named directory, to LLVMFuzzerTestOneInput(). It
 * is linked with every target in every build, so the normal and the
 * sanitizer test runs replay the committed corpus (seeds and past crash
 * inputs) without libFuzzer or clang.
 *
 *   fuzz-NAME-replay FILE|DIR...
 *
 * Each input is read into a buffer of exactly its size, so that ASan sees a
 * read past its end. Exits 0 once every input has run (a finding crashes
 * before that); non-zero on a file that cannot be read, or when there was no
 * input at all, since replaying an empty corpus proves nothing.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#pragma weak LLVMFuzzerInitialize

static int read_file(const char *path, uint8_t **ret_data, size_t *ret_size) {
        FILE *f = fopen(path, "re");
        uint8_t *data = NULL;
        long size;

        if (!f)
                return -errno;
        if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
                goto fail;
        /* malloc(0) may give NULL; the target must cope with (NULL, 0) then. */
        data = malloc(size > 0 ? (size_t) size : 1);
        if (!data)
                goto fail;
        if (size > 0 && fread(data, 1, (size_t) size, f) != (size_t) size)
                goto fail;
        fclose(f);
        *ret_data = data;
        *ret_size = (size_t) size;
        return 0;

fail:
        free(data);
        fclose(f);
        return errno > 0 ? -errno : -EIO;
}

static int run_file(const char *path) {
        uint8_t *data = NULL;
        size_t size = 0;
        int r = read_file(path, &data, &size);

        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        LLVMFuzzerTestOneInput(size > 0 ? data : NULL, size);
        free(data);
        return 0;
}

static int skip_dot(const struct dirent *de) {
        return de->d_name[0] != '.';
}

/* In name order, so that a run is the same everywhere. */
static int run_dir(const char *dir, size_t *count) {
        struct dirent **entries;
        int n = scandir(dir, &entries, skip_dot, alphasort), r = 0;

        if (n < 0) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                char path[4096];
                struct stat st;

                if (r == 0) {
                        snprintf(path, sizeof(path), "%s/%s", dir, entries[i]->d_name);
                        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                                r = run_file(path);
                                if (r == 0)
                                        (*count)++;
                        }
                }
                free(entries[i]);
        }
        free(entries);
        return r;
}

int main(int argc, char **argv) {
        size_t count = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (S_ISDIR(st.st_mode))
                        r = run_dir(argv[i], &count);
                else if ((r = run_file(argv[i])) == 0)
                        count++;
                if (r < 0)
                        return 1;
        }
        printf("%zu inputs replayed\n", count);
        if (count == 0) {
                fprintf(stderr, "no inputs: an empty corpus tests nothing\n");
                return 1;
        }
        return 0;
}
