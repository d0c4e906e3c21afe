/* replay.c - run a libFuzzer harness over every file of a corpus directory,
 * so `make fuzz-replay` exercises the harnesses without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a whole regular file into *data (malloc'd, at least 1 byte so
 * empty files work too). 0, or -1 with errno-style perror output. */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    int rc = -1;

    *data = NULL;
    if (f == NULL)
        goto failed_open;
    if (fstat(fileno(f), &st) < 0 || (*data = malloc((size_t)st.st_size + 1)) == NULL)
        goto failed_read;
    *size = fread(*data, 1, (size_t)st.st_size, f);
    if (*size != (size_t)st.st_size || ferror(f))
        goto failed_read;
    rc = 0;
failed_read:
    fclose(f);
failed_open:
    if (rc < 0) {
        perror(path);
        free(*data);
        *data = NULL;
    }
    return rc;
}

/* Regular files of dir, sorted so runs are repeatable. NULL on error. */
static char **list_files(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, **grown;
    size_t n = 0, cap = 0;

    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            if ((grown = realloc(names, cap * sizeof *names)) == NULL)
                break;
            names = grown;
        }
        if ((names[n] = strdup(path)) == NULL)
            break;
        n++;
    }
    closedir(d);
    *count = n;
    return names ? names : calloc(1, sizeof *names);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    size_t count = 0, done = 0;
    char **files;
    int rc = EXIT_SUCCESS;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    if ((files = list_files(argv[1], &count)) == NULL) {
        perror(argv[1]);
        return EXIT_FAILURE;
    }
    qsort(files, count, sizeof *files, by_name);
    for (size_t i = 0; i < count; i++) {
        uint8_t *data;
        size_t size;
        if (read_file(files[i], &data, &size) == 0) {
            LLVMFuzzerTestOneInput(data, size);     /* aborts on a finding */
            free(data);
            done++;
        } else {
            rc = EXIT_FAILURE;
        }
        free(files[i]);
    }
    free(files);
    printf("%zu files replayed\n", done);
    return rc;
}
