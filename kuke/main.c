/* kuke: the Kukeon command line. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
        printf("Client: %s\n", KUKEON_VERSION);
        return 0;
    }
    fprintf(stderr, "Usage: kuke version\n");
    return 1;
}
