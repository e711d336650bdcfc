/*
 * standalone_main.c - a main() for the fuzz harnesses when the compiler
 * has no libFuzzer: it runs LLVMFuzzerTestOneInput once on each file named
 * on the command line, so the seed corpora still run as regression tests
 * under gcc and its sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "rb");
        if (!fp) {
            perror(argv[i]);
            return 1;
        }
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
            if (len == cap) {
                cap = cap ? cap * 2 : 4096;
                char *grown = realloc(buf, cap);
                if (!grown) {
                    free(buf);
                    fclose(fp);
                    return 1;
                }
                buf = grown;
            }
            size_t got = fread(buf + len, 1, cap - len, fp);
            if (got == 0)
                break;
            len += got;
        }
        fclose(fp);
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        free(buf);
        printf("%s: ok\n", argv[i]);
    }
    return 0;
}
